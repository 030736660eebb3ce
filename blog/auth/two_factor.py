"""(being written) Two-factor authentication: TOTP enrolment, the sign-in step, recovery codes."""
