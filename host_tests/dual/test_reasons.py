# Connection failures in words (manual 6.2), from real sockets on loopback where the runtime can
# make the failure, else from the errno the runtime would raise.
import asyncio
import errno
import socket

from firmware.mqtt import MQTTError
from firmware.reasons import connection_error


def test_refused_by_a_real_closed_port():
    s = socket.socket()
    try:
        s.connect(socket.getaddrinfo("127.0.0.1", 9)[0][-1])  # discard: nothing listens on loopback
        raise AssertionError("port 9 answered")
    except OSError as exc:
        said = connection_error(exc)
    finally:
        s.close()
    assert said == "connection refused: is the server running on that port?", said
    assert "Errno" not in said and "OSError" not in said

def test_timeout_unknown_name_and_mqtt_words():
    assert connection_error(asyncio.TimeoutError()).startswith("no answer (timeout)")
    assert connection_error(OSError(errno.ETIMEDOUT)).startswith("no answer (timeout)")
    assert connection_error(OSError(-2)).startswith("server name not found")
    assert connection_error(OSError(errno.EHOSTUNREACH)).startswith("server unreachable")
    said = connection_error(MQTTError("connection refused (4): bad user name or password"))
    assert said == "connection refused (4): bad user name or password", said

def test_an_unknown_number_is_still_words():
    assert connection_error(OSError(5)) == "connection failed (error 5)"
    assert connection_error(OSError()) == "connection failed"


def test_tls_refusals():
    assert connection_error(OSError(-0x2700)).startswith("secure connection (TLS) refused")
    assert connection_error(OSError(-202)).startswith("server name not found")  # lwIP on the ESP32
