"""Pure capabilities (load, embed, cluster, sample, select, metrics); never imports agent/."""
