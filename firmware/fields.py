"""The kinds of value a setting can take and the check of each: a field's spec is
``(kind, default, a, b)``, a/b being min/max for int/text/name/host/topic, the allowed values for choice.

Shared by the settings' schema and the device rules, so a limit is worded the same everywhere.
"""

from firmware import passwords

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_HOST_CHARS = _NAME_CHARS + "-"
_TOPIC_CHARS = _NAME_CHARS + "_-./"
_TOKEN_CHARS = _NAME_CHARS + "-._~+/="  # RFC 6750's b64token: sent as it is after "Bearer "
PRINTABLE = "".join(chr(c) for c in range(32, 127))



def parse_ip(text):
    """The 32-bit value of a dotted IPv4 address, or None."""
    parts = text.split(".") if isinstance(text, str) else ()
    if len(parts) != 4:
        return None
    n = 0
    for p in parts:
        if not p or len(p) > 3 or not only(p, "0123456789") or (len(p) > 1 and p[0] == "0"):
            return None
        if int(p) > 255:
            return None
        n = (n << 8) | int(p)
    return n


def only(text, chars):
    for c in text:
        if c not in chars:
            return False
    return True


def _is_host(text):
    if parse_ip(text) is not None:
        return True
    labels = text.split(".")
    if only(text, "0123456789."):
        return False  # looks like an address but is not one
    for label in labels:
        if not 1 <= len(label) <= 63 or not only(label, _HOST_CHARS) or "-" in (label[0], label[-1]):
            return False
    return True


def split_list(text):
    """The items of a comma-separated list, stripped, empty ones left out."""
    return [x.strip() for x in text.split(",") if x.strip()]


def subnet(text):
    """``(network, mask)`` of ``a.b.c.d`` or ``a.b.c.d/n`` as ints, or None when it is neither."""
    addr, slash, bits = text.partition("/")
    n = parse_ip(addr)
    if n is None or (slash and not (bits and only(bits, "0123456789") and len(bits) <= 2 and int(bits) <= 32)):
        return None
    mask = (0xFFFFFFFF << (32 - (int(bits) if bits else 32))) & 0xFFFFFFFF
    return n & mask, mask


def check(spec, v):
    """None if value ``v`` fits field ``spec``, else (code, message)."""
    kind, _, a, b = spec
    if kind == "int":
        if not isinstance(v, int) or isinstance(v, bool) or not a <= v <= b:
            return "range", "must be a whole number from %d to %d" % (a, b)
    elif kind == "choice":
        if isinstance(v, bool) or v not in a:
            return "choice", "must be one of %s" % ", ".join(str(c) for c in a)
    elif kind == "bool":
        if not isinstance(v, bool):
            return "type", "must be true or false"
    elif not isinstance(v, str):
        return "type", "must be text"
    elif kind == "text":
        if not a <= len(v) <= b or not only(v, PRINTABLE):
            return "format", "must be %d to %d printable ASCII characters" % (a, b)
    elif kind == "pem":
        if len(v) > b:
            return "format", "must be at most %d characters" % b
        if v and not _is_pem(v):
            return "format", "must be a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)"
    elif kind == "name":
        if not a <= len(v) <= b or not only(v, _NAME_CHARS + "._-"):
            return "format", "must be %d to %d letters, digits, '.', '_' or '-'" % (a, b)
    elif kind == "token":
        if v and (not a <= len(v) <= b or not only(v, _TOKEN_CHARS)):
            return "format", ("must be empty or %d to %d letters, digits, '-', '.', '_', '~', '+', '/' or '='"
                              % (a, b))
    elif kind == "host":
        if v == "" and a == 0:
            return None
        if len(v) > b or not _is_host(v):
            return "format", "must be a host name or an IPv4 address" + (" (or empty)" if a == 0 else "")
    elif kind == "topic":
        if not a <= len(v) <= b or not only(v, _TOPIC_CHARS) or "/" in (v[0], v[-1]) or "//" in v:
            return "format", ("must be %d to %d letters, digits, '_', '-', '.' or '/', without a leading, "
                              "trailing or double '/'" % (a, b))
    elif kind == "ip":
        n = parse_ip(v)
        if n is None:
            return "format", "must be an IPv4 address such as 192.168.1.20"
        if n >> 24 in (0, 127) or n >> 24 >= 224:
            return "format", "must be a unicast address (not 0.x, 127.x or 224.0.0.0 and above)"
    elif kind == "mask":
        n = parse_ip(v)
        if n is None or prefix(n) is None or not 1 <= prefix(n) <= 30:
            return "format", "must be a subnet mask of 1 to 30 leading one bits, e.g. 255.255.255.0"
    elif kind == "subnets":
        if len(v) > b or not all(subnet(x) for x in split_list(v)):
            return "format", "must be IPv4 addresses or subnets (a.b.c.d or a.b.c.d/n), separated by commas"
    elif kind == "record":
        try:
            passwords.parse(v)
        except ValueError:
            return "format", "must be a password record (set it with set_password)"
    return None


def _is_pem(v):
    from firmware.mqtt import pem_to_der  # its one user decodes it the same way

    try:
        return len(pem_to_der(v)) > 0
    except ValueError:  # not base64
        return False


def prefix(mask):
    """The prefix length of a contiguous mask, or None."""
    inv = ~mask & 0xFFFFFFFF
    if inv & (inv + 1):
        return None
    return 32 - len(bin(inv)) + 2 if inv else 32


def dotted(n):
    return "%d.%d.%d.%d" % (n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255)
