"""Asking the issuer whether a token is live: RFC 7662 token introspection.

``POST <issuer>/oauth/introspect`` with the form ``token=…&token_type_hint=access_token`` and
HTTP Basic client authentication (``client_secret_basic``; id and secret form-encoded first, as
RFC 6749 §2.3.1 asks). The answer is judged strictly and fails closed:

* ``active: true`` → the principal, built from the issuer's *current* view (``sub``, ``sid``,
  ``username``, ``roles``), which must agree with the locally verified token;
* ``active: false`` → 401 ``session_revoked`` (the token already passed local verification,
  so what ended it is the session: logout, revocation, sign-out-everywhere, expiry, disable);
* no answer, a 5xx, a refusal of our own credentials, anything that is not RFC 7662 JSON →
  503 ``store_unavailable``. Never a 200.

Neither the token nor the client secret is ever logged.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx

from sessionjwt.errors import InvalidToken, SessionRevoked, StoreUnavailable
from sessionjwt.principal import Principal
from sessionjwt.tokens.claims import AccessClaims

logger = logging.getLogger("sessionjwt.resource_server")
MAX_ANSWER_BYTES = 64 * 1024


class IntrospectionClient:
    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        http: httpx.AsyncClient,
        *,
        issuer: str,
        audience: str,
    ) -> None:
        self.url = url
        self._auth = httpx.BasicAuth(quote(client_id, safe=""), quote(client_secret, safe=""))
        self._http = http
        self._issuer = issuer
        self._audience = audience
        self.calls = 0  # for tests and metrics

    def __repr__(self) -> str:
        return f"IntrospectionClient({self.url!r})"  # never the credentials

    async def principal(self, token: str, claims: AccessClaims) -> Principal:
        """The live principal behind ``token`` (already verified locally as ``claims``)."""
        answer = await self._ask(token)
        active = answer.get("active")
        if active is False:
            raise SessionRevoked("The issuer reports that this token's session has ended.")
        if active is not True:
            raise _unusable("'active' is not a boolean")
        return self._principal(answer, claims)

    async def _ask(self, token: str) -> dict[str, Any]:
        self.calls += 1
        try:
            response = await self._http.post(
                self.url,
                data={"token": token, "token_type_hint": "access_token"},
                auth=self._auth,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as error:
            logger.warning("introspection at %s unreachable: %s", self.url, type(error).__name__)
            raise StoreUnavailable("The issuer cannot be asked about this token now.") from error
        if response.status_code in (401, 403):
            logger.error(
                "introspection at %s refused this service's client credentials (HTTP %d): "
                "check the resource server's client id and secret",
                self.url,
                response.status_code,
            )
            raise StoreUnavailable("The issuer cannot be asked about this token now.")
        if response.status_code != 200:
            logger.warning("introspection at %s answered HTTP %d", self.url, response.status_code)
            raise StoreUnavailable("The issuer cannot be asked about this token now.")
        if len(response.content) > MAX_ANSWER_BYTES:
            raise _unusable("the answer is too large")
        try:
            answer = response.json()
        except ValueError as error:
            raise _unusable("the answer is not JSON") from error
        if not isinstance(answer, dict):
            raise _unusable("the answer is not a JSON object")
        return answer

    def _principal(self, answer: dict[str, Any], claims: AccessClaims) -> Principal:
        sub, sid = answer.get("sub"), answer.get("sid")
        if type(sub) is not str or type(sid) is not str:
            raise _unusable("an active answer without 'sub' and 'sid'")
        if sub != claims.sub or sid != claims.sid:
            raise InvalidToken("the issuer's answer does not describe this token")
        if "iss" in answer and answer["iss"] != self._issuer:
            raise InvalidToken("the issuer's answer names another issuer")
        if "aud" in answer:
            aud = answer["aud"]
            audiences = aud if isinstance(aud, list) else [aud]
            if self._audience not in audiences:
                raise InvalidToken("the issuer's answer names another audience")
        roles = answer.get("roles", [])
        if type(roles) is not list or not all(type(role) is str for role in roles):
            raise _unusable("'roles' is not a list of strings")
        username = answer.get("username", "")
        if type(username) is not str:
            raise _unusable("'username' is not a string")
        scope = answer.get("scope", "")
        credential = answer.get("credential", "session")
        if type(scope) is not str or type(credential) is not str:
            raise _unusable("'scope' or 'credential' is not a string")
        return Principal(
            sub,
            username,
            tuple(roles),
            sid,
            credential=credential,
            scopes=tuple(scope.split()),
        )


def _unusable(why: str) -> StoreUnavailable:
    logger.error("introspection answer unusable: %s", why)
    return StoreUnavailable("The issuer's answer about this token is unusable.")
