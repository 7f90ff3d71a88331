# TLS to a real broker on either runtime:  micropython mqtt_tls.py <config.json>
# config: port, ca (DER file of the right CA), wrong (DER of another CA), out (result JSON file).
import asyncio
import json
import sys

from firmware import mqtt

with open(sys.argv[1]) as f:
    cfg = json.load(f)


async def attempt(ca_file):
    ca = None
    if ca_file:
        with open(ca_file, "rb") as f:
            ca = f.read()
    c = mqtt.MQTTClient("tls-" + str(ca_file is not None), "127.0.0.1", cfg["port"], keepalive=0,
                        ssl=mqtt.tls_context(ca), timeout_ms=5000)
    try:
        await c.connect()
        await c.publish("enerlog/tls", b"over tls", 1)
        await c.disconnect()
        return "ok"
    except Exception as exc:  # what a refused certificate raises differs between the runtimes
        await c.close()
        return "failed: %s %s" % (type(exc).__name__, exc)


async def main():
    out = {}
    for name in ("ca", "wrong", "none"):
        out[name] = await attempt(cfg.get(name))
    with open(cfg["out"], "w") as f:
        f.write(json.dumps(out))


asyncio.run(main())
