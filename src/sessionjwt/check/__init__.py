"""The request check: token → live session → principal, answered from memory when warm."""
