# Kafka's murmur2 partitioning, for the client scripts that check where
# keyed records land: org.apache.kafka.common.utils.Utils.murmur2 in 32-bit
# arithmetic, checked on import against Kafka's own test vectors.


def murmur2(data):
    """Kafka's org.apache.kafka.common.utils.Utils.murmur2, in 32-bit arithmetic."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_of(key, partitions):
    """The Java client's DefaultPartitioner for a keyed record."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# Kafka's own test vectors for Utils.murmur2 (UtilsTest.testMurmur2).
for text, expected in [("21", -973932308), ("foobar", -790332482), ("a-little-bit-long-string", -985981536),
                       ("a-little-bit-longer-string", -1486304829),
                       ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971), ("abc", 479470107)]:
    got = murmur2(text.encode())
    if got - (1 << 32 if got >= 1 << 31 else 0) != expected:
        raise AssertionError(f"murmur2({text!r}) = {got}, not Kafka's {expected}")
