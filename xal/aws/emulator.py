"""What every AWS caller must do when the endpoint is a local emulator (moto).

Real builds import these too: a build pointed at a loopback endpoint must never fall back to a
developer's real credentials or reach the internet, whichever code path started it.
"""

from __future__ import annotations

# Credentials moto accepts; they only ever go to the loopback endpoint.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Offline guard: any HTTP(S) request that is not to loopback fails at once (both spellings, since
# tools differ in which they read); instance metadata is never asked for credentials.
LOCAL_GUARD_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
