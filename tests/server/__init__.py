"""Tests of the asyncio server shell: config, CLI, four-letter words, bad input, limits."""
