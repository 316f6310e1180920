"""PowerFactor domain package, shipped to every function in the PowerFactor layer."""
