"""Built-in SMS providers (Twilio, Skebby) behind the ``fic_send_sms`` hook."""
