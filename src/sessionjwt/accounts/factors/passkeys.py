"""WebAuthn ceremonies with py_webauthn: the options a browser passes to
``navigator.credentials.create()``/``get()``, and the verification of what it sends back.

Choices (docs/mfa.md, "Passkeys"):

- **Discoverable credentials** (``residentKey: "required"``): every passkey can be the first
  and only factor, found by the browser without a user name.
- **User verification**: ``preferred`` when registering and as a second factor (a security
  key without a PIN still works after a password), ``required`` for a passwordless sign-in
  (a passkey alone must be two factors: the device and the PIN or biometric that unlocks it).
- **Attestation** ``none``: which authenticator model it is is not ours to check; only the
  key it made.
- The **sign-count** check is ours, not the library's: py_webauthn compares counters before
  it checks the signature, so an unsigned assertion could make a genuine passkey look cloned.
  Here the signature is verified first (the library is given a current count of 0), and
  :func:`counter_regressed` then decides on the verified count.

Anything a client sends that does not verify — malformed JSON, wrong origin, RP id,
challenge, type or signature — is one refusal, :class:`InvalidPasskey`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from sessionjwt.accounts.factors.passkey_store import (
    CREDENTIAL_ID_MAX,
    PasskeyRecord,
    transports_text,
)
from sessionjwt.errors import InvalidPasskey
from sessionjwt.settings import Settings

logger = logging.getLogger("sessionjwt.passkeys")

CHALLENGE_BYTES = 32

# RFC 8176: proof of possession of a hardware-secured key (a device-bound passkey or a
# security key), or of a software-secured one (a synced passkey, whose key leaves the device).
HARDWARE_KEY = "hwk"
SOFTWARE_KEY = "swk"
USER = "user"  # the authenticator verified (so also saw) the user: PIN or biometric
MFA = "mfa"


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    name: str
    origins: tuple[str, ...]
    timeout_ms: int

    @classmethod
    def of(cls, settings: Settings) -> RelyingParty:
        return cls(
            id=settings.resolved_webauthn_rp_id,
            name=settings.resolved_webauthn_rp_name,
            origins=tuple(settings.resolved_webauthn_origins),
            timeout_ms=int(settings.webauthn_challenge_ttl.total_seconds() * 1000),
        )


@dataclass(frozen=True, slots=True)
class NewCredential:
    """A registration that verified: what to store."""

    credential_id: str  # base64url
    public_key: bytes
    sign_count: int
    aaguid: str
    backed_up: bool
    multi_device: bool  # backup eligible: a synced passkey
    transports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Assertion:
    """A parsed (not yet verified) ``navigator.credentials.get()`` answer."""

    credential_id: str
    user_handle: bytes | None
    parsed: AuthenticationCredential


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    sign_count: int
    user_verified: bool
    backed_up: bool
    multi_device: bool  # backup eligible: a synced passkey

    @property
    def key_method(self) -> str:
        return SOFTWARE_KEY if self.multi_device or self.backed_up else HARDWARE_KEY


def new_challenge() -> str:
    """A fresh WebAuthn challenge, base64url (as stored on the ceremony's row)."""
    return bytes_to_base64url(secrets.token_bytes(CHALLENGE_BYTES))


def user_handle(user_id: str) -> bytes:
    """The WebAuthn user handle of an account: its id, random and free of personal data.
    The same for every passkey of the user, so one authenticator keeps one per account."""
    return user_id.encode("ascii")


def registration_options(
    rp: RelyingParty,
    *,
    user_id: str,
    user_name: str,
    challenge: str,
    existing: Sequence[PasskeyRecord],
) -> dict[str, Any]:
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle(user_id),
        user_name=user_name,
        user_display_name=user_name,
        challenge=base64url_to_bytes(challenge),
        timeout=rp.timeout_ms,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(existing),  # the browser refuses a second one
    )
    return options_to_json_dict(options)


def authentication_options(
    rp: RelyingParty,
    *,
    challenge: str,
    allowed: Sequence[PasskeyRecord] = (),
    user_verification: bool = False,
) -> dict[str, Any]:
    """``allowed`` empty: any discoverable passkey of this RP (passwordless sign-in)."""
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=base64url_to_bytes(challenge),
        timeout=rp.timeout_ms,
        allow_credentials=_descriptors(allowed),
        user_verification=UserVerificationRequirement.REQUIRED
        if user_verification
        else UserVerificationRequirement.PREFERRED,
    )
    return options_to_json_dict(options)


def verify_registration(
    rp: RelyingParty, credential: Mapping[str, Any] | str, challenge: str
) -> NewCredential:
    try:
        parsed = parse_registration_credential_json(_plain(credential))
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
        )
    except Exception as error:  # every refusal of untrusted input, never a 500
        logger.debug("registration refused: %s", error)
        raise InvalidPasskey() from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if len(credential_id) > CREDENTIAL_ID_MAX:
        raise InvalidPasskey()
    transports = [
        str(transport.value) if isinstance(transport, AuthenticatorTransport) else str(transport)
        for transport in parsed.response.transports or ()
    ]
    return NewCredential(
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        backed_up=verified.credential_backed_up,
        multi_device=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        transports=transports_text(transports),
    )


def parse_assertion(credential: Mapping[str, Any] | str) -> Assertion:
    try:
        parsed = parse_authentication_credential_json(_plain(credential))
    except Exception as error:
        logger.debug("assertion refused: %s", error)
        raise InvalidPasskey() from None
    credential_id = bytes_to_base64url(parsed.raw_id)
    if credential_id != parsed.id:
        raise InvalidPasskey()
    return Assertion(credential_id, parsed.response.user_handle, parsed)


def verify_assertion(
    rp: RelyingParty,
    assertion: Assertion,
    challenge: str,
    passkey: PasskeyRecord,
    *,
    user_verification: bool = False,
) -> VerifiedAssertion:
    """The signature, origin, RP id, challenge and flags; not the counter (see the module)."""
    if assertion.user_handle is not None and assertion.user_handle != user_handle(passkey.user_id):
        raise InvalidPasskey()
    try:
        verified = verify_authentication_response(
            credential=assertion.parsed,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=passkey.public_key,
            credential_current_sign_count=0,  # ours to compare, after the signature
            require_user_verification=user_verification,
        )
    except Exception as error:
        logger.debug("assertion refused: %s", error)
        raise InvalidPasskey() from None
    return VerifiedAssertion(
        sign_count=verified.new_sign_count,
        user_verified=verified.user_verified,
        backed_up=verified.credential_backed_up,
        multi_device=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
    )


def counter_regressed(stored: int, presented: int) -> bool:
    """WebAuthn §7.2 step 22: a counter that does not move forward (once it was used at all)
    means two copies of the credential exist. 0 after 0: an authenticator without one."""
    return (stored > 0 or presented > 0) and presented <= stored


def _descriptors(records: Sequence[PasskeyRecord]) -> list[PublicKeyCredentialDescriptor]:
    descriptors = []
    for record in records:
        transports = []
        for name in record.transports:
            try:
                transports.append(AuthenticatorTransport(name))
            except ValueError:
                continue  # a transport newer than the library: leave it out
        descriptors.append(
            PublicKeyCredentialDescriptor(
                id=base64url_to_bytes(record.credential_id), transports=transports or None
            )
        )
    return descriptors


def _plain(credential: Mapping[str, Any] | str) -> dict[str, Any] | str:
    return credential if isinstance(credential, str) else dict(credential)
