"""IOC monitoring service core: settings, model, store, API, CLI and the composition root."""
