# Runs first on the board. Kept minimal and unchanging: the firmware itself lives in firmware/.
