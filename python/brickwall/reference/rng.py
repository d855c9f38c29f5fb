"""Bit-exact Python replay of the core's RNG (rust/brickwall-core/src/rng.rs)."""

from __future__ import annotations

M64 = (1 << 64) - 1


def splitmix64(state: int) -> tuple[int, int]:
    """(new state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & M64


class Rng:
    """xoshiro256++ seeded by SplitMix64, as in the core."""

    def __init__(self, seed: int) -> None:
        sm, s = seed & M64, []
        for _ in range(4):
            sm, out = splitmix64(sm)
            s.append(out)
        self.s = s

    @classmethod
    def for_chunk(cls, seed: int, chunk: int) -> Rng:
        sm = (seed ^ ((chunk * 0xD1B54A32D192ED03) & M64)) & M64
        _, mixed = splitmix64(sm)
        return cls(mixed)

    def next_u64(self) -> int:
        s = self.s
        out = (_rotl((s[0] + s[3]) & M64, 23) + s[0]) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return out

    def uniform(self) -> float:
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def below(self, n: int) -> int:
        return (self.next_u64() * n) >> 64
