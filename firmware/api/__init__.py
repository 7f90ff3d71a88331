"""The JSON API's routes by area, each module adding its own to the microdot app
(``firmware/webapi.py`` holds the security model and turns errors into answers)."""
