"""Everything on FastAPI/Starlette: the guard, credentials, refusals, cookies, routers, pages."""
