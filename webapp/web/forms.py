"""Turning validation errors into messages beside the fields of a form."""

from __future__ import annotations

from pydantic import ValidationError

FRIENDLY = {
    "string_too_short": "Must be at least {min_length} characters.",
    "string_too_long": "Must be at most {max_length} characters.",
    "missing": "This field is required.",
}


def field_errors(error: ValidationError, default_field: str) -> dict[str, str]:
    """The first message for each field; errors of the whole form (a model
    validator) go to `default_field`."""
    messages: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else default_field
        template = FRIENDLY.get(item["type"])
        if item["type"] == "string_too_short" and item.get("ctx", {}).get("min_length") == 1:
            template = FRIENDLY["missing"]
        if template:
            message = template.format(**item.get("ctx", {}))
        else:
            message = item["msg"].removeprefix("Value error, ")
            message = message[0].upper() + message[1:]
            if not message.endswith("."):
                message += "."
        messages.setdefault(field, message)
    return messages
