"""The refusals a person sees: a rule broken by a value they sent.

``field`` names the value ("network.ip", "address"), ``message`` says the rule in words, ``code``
says which kind of refusal it is; the web API turns the code into the HTTP status in one place
(``firmware/api/common.py``), never by reading the words.
"""


class SettingsError(ValueError):
    """A rejected setting: ``field``, ``message``, ``code`` ("range", "format", "duplicate", ...)."""

    def __init__(self, field, message, code="invalid"):
        super().__init__("%s: %s" % (field, message))
        self.field = field
        self.message = message
        self.code = code


class DeviceError(SettingsError):
    """A device list, add or delete refused by the manual's device rules (``firmware/devices.py``)."""


class NotApplied(SettingsError):
    """Saved, but a part of the logger could not take the new settings on (it runs on the old ones
    until a restart): code "not_applied"."""

    def __init__(self, field, message):
        super().__init__(field, message, "not_applied")
