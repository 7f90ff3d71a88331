"""Why a connection failed, in words a person acts on (manual 6.2: "check whether the router
network is connected to the Internet", "check if the server address is correct"), never an
exception's text such as ``OSError: [Errno 111] ECONNREFUSED``."""

import errno

# errno: (what happened, what to check). MicroPython's errno numbers equal Linux's for these.
_ERRNO = (
    (getattr(errno, "ECONNREFUSED", 111), "connection refused", "is the server running on that port?"),
    (getattr(errno, "ETIMEDOUT", 110), "no answer (timeout)", "check the network and the server address"),
    (getattr(errno, "EHOSTUNREACH", 113), "server unreachable", "check the network's gateway"),
    (getattr(errno, "ENETUNREACH", 101), "network unreachable", "check the network's gateway"),
    (getattr(errno, "ECONNRESET", 104), "connection dropped by the server", None),
    (getattr(errno, "ECONNABORTED", 103), "connection dropped", None),
)
_TLS_CODES = -0x1000  # mbedTLS errors (MicroPython raises them as OSError(-0x2700) and the like)


def connection_error(exc):
    """``exc`` (an OSError, asyncio.TimeoutError or MQTTError) in words."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    if code is None and type(exc).__name__ == "TimeoutError":
        return "no answer (timeout): check the network and the server address"
    if (code is not None and code <= _TLS_CODES) or "SSL" in type(exc).__name__:
        return "secure connection (TLS) refused: check the CA certificate and the server's name"
    if code is not None and code < 0:
        # getaddrinfo: CPython's gaierror and MicroPython's lwIP both use small negative numbers
        return "server name not found: check the server address and the DNS server"
    for number, what, check in _ERRNO:
        if code == number:
            return what + (": " + check if check else "")
    text = str(exc.args[0]) if exc.args else ""
    if code is None and text:  # the MQTT client's own words ("connection refused (4): bad user name...")
        return text
    return "connection failed" + (" (error %d)" % code if code is not None else "")
