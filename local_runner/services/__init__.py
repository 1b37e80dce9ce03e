"""The AWS services the emulator stands in for, as template.yaml declares them: the template itself,
schedules and their clock, the IoT rule (SQL, bridge, event shapes), the Lambda invoker, API
Gateway, the dead-letter queue. They know nothing of the local infrastructure above them."""
