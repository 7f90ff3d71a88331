"""Login and session: POST /api/login, /api/logout, /api/password, GET /api/session and the login
screen's notice (GET /api/notice, no session needed)."""

from firmware.api.common import ApiError, body_object, only_keys, text
from firmware.settings import DEFAULTS_RESTORED, SettingsError


def _cookie(value, max_age):
    return "session=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict" % (value, max_age)


class Login:
    """The password check behind the throttle: 429 while locked; a wrong one counts."""

    def __init__(self, settings, throttle):
        self.settings = settings
        self.throttle = throttle

    async def check(self, user, password, field):
        wait = self.throttle.wait_s()
        if wait:
            raise ApiError(429, "too many wrong passwords: try again in %d s" % wait, field,
                           {"Retry-After": str(wait)})
        if not await self.settings.check_password_async(user, password):
            self.throttle.failed()
            return False
        self.throttle.succeeded()
        return True


def routes(app, settings, sessions, throttle, log):
    login_check = Login(settings, throttle)

    @app.post("/api/login")
    async def login(request):
        data = body_object(request)
        user = text(data, "user")
        password = text(data, "password")
        if not await login_check.check(user, password, "password"):
            log.warning("web: wrong password for %r" % user[:30])
            raise ApiError(401, "wrong user name or password", "password")
        must_change = settings.get("login")["must_change"]
        cookie = sessions.open(user, must_change)
        log.info("web: %s logged in" % user)
        return ({"user": user, "must_change": must_change}, 200,
                {"Set-Cookie": _cookie(cookie, sessions.idle_s), "Cache-Control": "no-store"})

    @app.get("/api/notice")
    async def notice(request):
        """What the login screen must say before anyone logs in: a fall back to the factory
        defaults (then admin/admin logs in), until it is acknowledged."""
        return {"notice": DEFAULTS_RESTORED if settings.defaults_restored else None}

    @app.post("/api/logout")
    async def logout(request):
        sessions.close(request.cookies.get("session"))
        return {"ok": True}, 200, {"Set-Cookie": _cookie("", 0)}

    @app.get("/api/session")
    async def session(request):
        s = request.g.session
        return {"user": s.user, "must_change": s.must_change}

    @app.post("/api/password")
    async def password(request):
        data = body_object(request)
        only_keys(data, ("old", "new"))
        old = text(data, "old")
        new = text(data, "new")
        if not await login_check.check(settings.get("login")["user"], old, "old"):
            raise ApiError(400, "does not match the current password", "old")
        try:
            settings.set_password(new, old)
        except SettingsError as e:
            raise ApiError(400, e.message, "new" if e.field == "login.password" else e.field)
        s = request.g.session
        s.must_change = False
        sessions.close_all(keep=s)  # every other session ends with the old password
        return {"ok": True}
