"""The web stage: the live wire page, fed from the tagged, alerts and entity sightings topics."""
