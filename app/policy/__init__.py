"""The conduct policy: profiles (data) and the one module that decides every rule.

``rules`` decides; ``profile`` loads and validates the versioned profile files. The
active profile is ``POLICY_PROFILE``; a region or a team may name another. The collection
strategy (``strategy``: buckets, escalations, priority score) is loaded beside them, and
a malformed one refuses to start the service just the same.
"""

from typing import Any

from flask import Flask, current_app

from app.policy import rules
from app.policy.profile import Profile, ProfileError, load_profiles
from app.policy.strategy import Strategy, default_strategy, load_strategies


class Policy:
    def __init__(self, profiles: dict[str, Profile], default_id: str) -> None:
        if default_id not in profiles:
            raise ProfileError(f"POLICY_PROFILE: no profile {default_id!r}; known: {', '.join(sorted(profiles))}")
        self.profiles = profiles
        self.default = profiles[default_id]

    def get(self, profile_id: str | None = None) -> Profile:
        if profile_id is None:
            return self.default
        if profile_id not in self.profiles:
            raise ProfileError(f"unknown policy profile {profile_id!r}")
        return self.profiles[profile_id]

    def for_team(self, team: Any) -> Profile:
        """The team's own profile, else its region's, else the service default."""
        return self.get(team.policy_profile or team.region.policy_profile or None)


def init_app(app: Flask) -> None:
    directory = app.config.get("POLICY_PROFILE_DIR")
    profiles = load_profiles(directory) if directory else load_profiles()
    app.extensions["policy"] = Policy(profiles, app.config["POLICY_PROFILE"])
    strategy_dir = app.config.get("STRATEGY_DIR")
    if strategy_dir:
        strategies = load_strategies(strategy_dir)
        if "default" not in strategies:
            raise ProfileError(f"STRATEGY_DIR: no default.toml in {strategy_dir}")
        app.extensions["strategy"] = strategies["default"]
    else:
        app.extensions["strategy"] = default_strategy()


def current() -> Policy:
    policy: Policy = current_app.extensions["policy"]
    return policy


def strategy() -> Strategy:
    """The collection strategy the service runs (``default.toml``)."""
    chosen: Strategy = current_app.extensions["strategy"]
    return chosen


__all__ = ["Policy", "Profile", "ProfileError", "Strategy", "current", "init_app", "rules", "strategy"]
