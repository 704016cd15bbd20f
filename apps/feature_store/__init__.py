"""Demo online feature store: GET /features/<user_id> answers the stored account features of a user."""
