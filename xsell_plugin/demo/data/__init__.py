"""The committed demo sample (see README.md); a package so that wheels ship its files."""
