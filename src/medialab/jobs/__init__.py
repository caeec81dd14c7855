"""Background generation: arq worker settings, the generation job, image providers, sweepers."""
