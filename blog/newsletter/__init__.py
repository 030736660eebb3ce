"""The newsletter: readers subscribe by email and get each new post, through the site's own
SMTP server.

- `subscribers`: subscribing (double opt-in), confirming, leaving, changing address.
- `email_version`: a post made into an email once per send.
- `sending`: the send itself: deliveries recorded before they go out, batches at a set rate,
  bounces, pause and cancel.
"""
