"""The reference runner: flow loading, ${{ }} resolution, the engine and the journal."""
