"""Stripe's wire rules: form-encoded parameters, error bodies, ids, list pages, signatures."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

JsonObject = dict[str, Any]

# The API version stripe-python 16.1 pins; events carry it as Stripe's do.
API_VERSION = "2026-10-28.endive"
# List endpoints: 10 objects a page unless asked, 1 to 100.
DEFAULT_PAGE = 10
MAX_PAGE = 100
# An open Checkout Session expires 24 hours after it is created.
SESSION_LIFETIME = 24 * 3600

_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


class StripeError(Exception):
    """An error answer in Stripe's form: an HTTP status and ``{"error": {...}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        saved: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        # Stripe saves an idempotent result only once the endpoint started executing, so a
        # request refused for its parameters can be retried with the same key.
        self.saved = saved

    def body(self) -> JsonObject:
        """Return the error body as Stripe sends it."""
        error: JsonObject = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


def missing(kind: str, object_id: str, param: str) -> StripeError:
    """Return the 404 for an id that names nothing: ``No such price: 'price_x'``."""
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def invalid(message: str, param: str, code: str = "parameter_invalid") -> StripeError:
    """Return a 400 for a parameter Stripe would refuse; no idempotent result is saved."""
    return StripeError(400, message, code=code, param=param, saved=False)


def required(param: str) -> StripeError:
    """Return the 400 for a missing required parameter."""
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param, saved=False
    )


# ---------------------------------------------------------------------- form decoding


def _key_path(key: str) -> list[str]:
    """Split ``line_items[0][price]`` into ``["line_items", "0", "price"]``."""
    head, _, rest = key.partition("[")
    if not rest:
        return [key]
    return [head, *_KEY_PART.findall("[" + rest)]


def _listify(value: Any) -> Any:
    """Turn dicts keyed 0..n (or by ``[]`` appends) into lists, depth first."""
    if not isinstance(value, dict):
        return value
    converted = {key: _listify(item) for key, item in value.items()}
    if converted and all(isinstance(key, int) for key in converted):
        return [converted[key] for key in sorted(converted)]
    return converted


def parse_form(text: str) -> JsonObject:
    """Decode a form body or query string the way Stripe reads stripe-python's encoding.

    ``metadata[plan]=gold`` nests, ``line_items[0][price]=…`` makes a list of objects and
    ``expand[]=a&expand[]=b`` (or ``expand[0]=a``) a list of strings.
    """
    root: dict[Any, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        parts = _key_path(key)
        node: dict[Any, Any] = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            # "[]" appends; a digit indexes; anything else is a field name.
            token: Any = (
                len(node) if part == "" else int(part) if part.isdigit() and index > 0 else part
            )
            if last:
                node[token] = value
            else:
                child = node.get(token)
                if not isinstance(child, dict):
                    child = {}
                    node[token] = child
                node = child
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def as_int(params: JsonObject, name: str, *, minimum: int | None = None) -> int | None:
    """Return an integer parameter, or None when absent; refuse anything else."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise invalid(f"Invalid integer: {value}", name, "parameter_invalid_integer")
    number = int(value)
    if minimum is not None and number < minimum:
        raise invalid(
            f"This value must be greater than or equal to {minimum}.",
            name,
            "parameter_invalid_integer",
        )
    return number


def as_bool(params: JsonObject, name: str) -> bool | None:
    """Return a boolean parameter ("true"/"false" on the wire), or None when absent."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if value not in ("true", "false"):
        raise invalid(f"Invalid boolean: {value}", name)
    return bool(value == "true")


def as_str(params: JsonObject, name: str) -> str | None:
    """Return a string parameter, or None when absent or empty."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {name} must be a string.", name)
    return value


def as_metadata(params: JsonObject, name: str = "metadata") -> dict[str, str] | None:
    """Return a metadata hash (string keys and values), or None when absent."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid("Invalid hash: metadata keys and values must be strings.", name)
    if len(value) > 50:
        raise invalid("Metadata can have up to 50 keys.", name)
    for key, item in value.items():
        if len(str(key)) > 40:
            raise invalid("Metadata keys can be up to 40 characters long.", f"{name}[{key}]")
        if len(item) > 500:
            raise invalid("Metadata values can be up to 500 characters long.", f"{name}[{key}]")
    return {str(key): item for key, item in value.items()}


def merge_metadata(current: dict[str, str], update: dict[str, str]) -> dict[str, str]:
    """Apply a metadata update as Stripe does: an empty value unsets the key."""
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def expansions(params: JsonObject) -> list[str]:
    """Return the ``expand`` list (``expand[]=…`` or ``expand[0]=…``)."""
    value = params.get("expand")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid("Invalid array: expand must be a list of strings.", "expand")
    return list(value)


# ---------------------------------------------------------------------- ids and lists


def new_id(prefix: str, length: int = 24) -> str:
    """Return a fresh id such as ``price_…``, random like Stripe's."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def list_page(objects: Sequence[JsonObject], params: JsonObject, url: str, kind: str) -> JsonObject:
    """Return one page of a list, newest first, cut by ``limit``, ``starting_after``, ``ending_before``.

    ``objects`` are in creation order; Stripe lists newest first.
    """
    limit = as_int(params, "limit", minimum=1)
    if limit is None:
        limit = DEFAULT_PAGE
    if limit > MAX_PAGE:
        raise invalid(
            f"This value must be less than or equal to {MAX_PAGE}.",
            "limit",
            "parameter_invalid_integer",
        )
    after = as_str(params, "starting_after")
    before = as_str(params, "ending_before")
    if after is not None and before is not None:
        raise invalid(
            "You may only specify one of these parameters: ending_before, starting_after.",
            "ending_before",
        )
    newest_first = list(reversed(objects))
    ids = [item["id"] for item in newest_first]
    if after is not None:
        if after not in ids:
            raise missing(kind, after, "starting_after")
        rest = newest_first[ids.index(after) + 1 :]
        page, has_more = rest[:limit], len(rest) > limit
    elif before is not None:
        if before not in ids:
            raise missing(kind, before, "ending_before")
        rest = newest_first[: ids.index(before)]
        page, has_more = rest[-limit:], len(rest) > limit
    else:
        page, has_more = newest_first[:limit], len(newest_first) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


# ---------------------------------------------------------------------- webhook signatures


def new_webhook_secret() -> str:
    """Return a fresh endpoint signing secret, ``whsec_…``."""
    return "whsec_" + secrets.token_hex(24)


def sign_payload(payload: str, secret: str | Sequence[str], timestamp: int) -> str:
    """Return the ``Stripe-Signature`` header for a payload signed at a timestamp.

    Several secrets (during a rotation) give one ``v1`` each, the current secret first.
    """
    signed = f"{timestamp}.{payload}".encode()
    keys = [secret] if isinstance(secret, str) else list(secret)
    digests = [hmac.new(key.encode(), signed, hashlib.sha256).hexdigest() for key in keys]
    return ",".join([f"t={timestamp}", *(f"v1={digest}" for digest in digests)])


def key_fingerprint(key: str) -> str:
    """Return an API key as Stripe's error messages show it: all but the last four hidden."""
    prefix = key[:8] if key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")) else ""
    return prefix + "*" * max(len(key) - len(prefix) - 4, 0) + key[-4:]
