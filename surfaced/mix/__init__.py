"""The mix: its one state owner (`Mixer`), the typed face of the native core
(`Engine`), the parameter vocabulary and tapers, and the audio drivers."""
