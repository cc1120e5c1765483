"""Period reports per room: counts, means, extremes with their time, comfort shares, gaps."""
