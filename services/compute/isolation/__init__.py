"""What keeps a sandbox's code off the host: an unprivileged host identity,
per-sandbox cgroups, a seccomp filter, a quota'd workspace image, and the
start-up probe that refuses to run without them (README, "Threat model")."""
