"""Pure image functions: decoding with limits, encoding, compositing, exports."""
