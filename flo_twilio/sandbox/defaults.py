"""The sandbox's own account and numbers: what ``flo sandbox --help`` shows without
importing the sandbox (start-up time)."""

DEFAULT_ACCOUNT_SID = "AC" + "0" * 31 + "1"
DEFAULT_AUTH_TOKEN = "sandbox-auth-token-0000000000001"
DEFAULT_NUMBERS = ("+15005550006", "+15017122661", "+15558675310")
