"""What each process knows of which sessions are alive, and the feeds that keep it true."""
