"""The nomination period: the public questionnaire, confirmation, the nominee's answer."""
