"""The OCPP model the API and the central system share, pure: what the central system makes of
a charge point's transactions, the id-tag list, and an operator's commands to a charger."""
