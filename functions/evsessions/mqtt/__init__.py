"""The MQTT adapter: chargers' identities, the paho connections, and the publisher port with
its two adapters (paho, AWS IoT data plane)."""
