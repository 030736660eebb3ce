"""Security headers on every response: a strict Content-Security-Policy and its companions.

Pages load scripts, styles, fonts and images from this site only; no inline script and no
inline style attribute is allowed (scripts that set element.style, as CodeMirror does, are
unaffected: CSP does not govern the CSSOM). Images may also be data: URIs (the two-factor QR
code). A view that sets its own, stricter policy (uploaded media) keeps it.
"""

from flask import Response, current_app

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# Powerful features no page of the blog uses, denied to it and to anything it could embed.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
        "interest-cohort",
    )
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
}

HSTS = "max-age=31536000; includeSubDomains"


def set_security_headers(response: Response) -> Response:
    """After every request: the headers above, unless the view set its own."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if current_app.config["SITE_URL"].startswith("https://"):
        # Only a site served over HTTPS may tell browsers to use nothing else.
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response
