"""Build the demo SQLite database that Nocoflo's setup command registers as a data source.

The demo gives a fresh install something realistic to browse: a small shop with
``customers``, ``products`` and about a million ``orders``. It is large enough that
paging, sorting, filtering and search have to be done in SQL rather than in Python
(the benchmark in ``benchmarks/rows_api.py`` runs against it), and it deliberately
mixes indexed and unindexed columns, NULLs, booleans, dates and free text.

The output depends only on ``seed`` and ``orders`` (not on today's date), so tests and
benchmarks see the same data on every machine.

Run it directly to build a file by hand::

    python datasources_app/demo_data.py /tmp/demo.sqlite3 --orders 100000
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import itertools
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

CUSTOMER_COUNT = 10_000
PRODUCT_COUNT = 1_000
BATCH_SIZE = 50_000

# Fixed calendar so the data is reproducible; orders cover the last three years of it.
CUSTOMER_SIGNUPS = (dt.date(2019, 1, 1), dt.date(2024, 9, 30))
PRODUCT_ADDITIONS = (dt.date(2020, 1, 1), dt.date(2024, 6, 30))
ORDERS_START = dt.date(2022, 1, 1)
ORDERS_END = dt.date(2024, 12, 31)

SCHEMA = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    city TEXT,
    signup_date DATE NOT NULL,
    is_active BOOLEAN NOT NULL,
    credit_limit REAL,
    notes TEXT
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    sku VARCHAR(12) NOT NULL UNIQUE,
    name VARCHAR(80) NOT NULL,
    category TEXT NOT NULL,
    price REAL NOT NULL,
    in_stock BOOLEAN NOT NULL,
    added_at DATETIME NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    unit_price REAL NOT NULL,
    status TEXT NOT NULL,
    ordered_at DATETIME NOT NULL,
    shipped_on DATE,
    gift BOOLEAN NOT NULL,
    comment TEXT
);
"""

# Created after the bulk insert because building an index once is much cheaper than
# maintaining it row by row. status, quantity, unit_price and comment stay unindexed
# on purpose: the app must cope with filters and sorts that need a full scan.
INDEXES = """
CREATE INDEX orders_customer_id ON orders(customer_id);
CREATE INDEX orders_product_id ON orders(product_id);
CREATE INDEX orders_ordered_at ON orders(ordered_at);
"""

INSERT_CUSTOMER = "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_PRODUCT = "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?)"
INSERT_ORDER = "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
COUNT_ROWS = {
    "customers": "SELECT count(*) FROM customers",
    "products": "SELECT count(*) FROM products",
    "orders": "SELECT count(*) FROM orders",
}

FIRST_NAMES = (
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella",
    "Lucas", "Mia", "Mateo", "Amelia", "Oliver", "Harper", "Ethan", "Evelyn", "Aiden",
    "Abigail", "Leo", "Chloe", "Samuel", "Zoe", "Daniel", "Hannah", "Henry", "Nora",
    "Jack", "Lily", "Owen", "Grace", "Wyatt", "Aria", "Julian", "Ella", "Gabriel",
    "Priya", "Arjun", "Mei", "Hiroshi", "Fatima", "Omar", "Ingrid", "Lars", "Sofia",
    "Diego", "Chiara", "Marco", "Aisha", "Kwame", "Yusuf", "Elena", "Nikolai", "Anya",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas",
    "Taylor", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris",
    "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Nguyen", "Patel", "Kim", "Chen", "Tanaka", "Müller", "Rossi", "Novak", "Kowalski",
    "O'Brien", "Okafor", "Haddad", "Silva", "Jensen", "Larsen", "Dubois", "Ivanova",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.test", "inbox.test")
CITIES = (
    "New York", "London", "Paris", "Berlin", "Madrid", "Rome", "Amsterdam", "Lisbon",
    "Toronto", "Chicago", "Austin", "Seattle", "Boston", "Dublin", "Stockholm", "Oslo",
    "Copenhagen", "Vienna", "Zurich", "Prague", "Warsaw", "Tokyo", "Osaka", "Seoul",
    "Singapore", "Sydney", "Melbourne", "Auckland", "Cape Town", "São Paulo", "Mexico City",
    "Montréal",
)  # fmt: skip
CUSTOMER_NOTES = (
    "Prefers email contact.",
    "VIP customer, handle with care.",
    "Asked not to receive marketing.",
    "Wholesale account, invoices monthly.",
    "Had a delivery issue in the past.",
    "Referred by a friend.",
)
CREDIT_LIMITS = (500.0, 1000.0, 2500.0, 5000.0, 10000.0, 25000.0)

# category -> (SKU prefix, price range, nouns)
CATEGORIES = {
    "Electronics": ("ELC", (15, 900), ("Headphones", "Speaker", "Charger", "Monitor", "Webcam")),
    "Books": ("BOK", (6, 60), ("Notebook", "Cookbook", "Novel", "Atlas", "Journal")),
    "Home": ("HOM", (8, 250), ("Lamp", "Rug", "Vase", "Clock", "Cushion")),
    "Kitchen": ("KIT", (5, 300), ("Kettle", "Pan", "Knife Set", "Blender", "Mug")),
    "Garden": ("GRD", (4, 400), ("Planter", "Hose", "Shears", "Bench", "Birdhouse")),
    "Toys": ("TOY", (5, 120), ("Puzzle", "Robot", "Kite", "Building Set", "Plush Bear")),
    "Sports": ("SPT", (10, 600), ("Yoga Mat", "Dumbbell", "Racket", "Bike Helmet", "Ball")),
    "Clothing": ("CLO", (9, 220), ("T-Shirt", "Jacket", "Scarf", "Hoodie", "Socks")),
    "Beauty": ("BTY", (4, 90), ("Face Cream", "Shampoo", "Lip Balm", "Perfume", "Soap")),
    "Office": ("OFF", (2, 350), ("Desk Organizer", "Pen Set", "Stapler", "Chair", "Binder")),
    "Pets": ("PET", (3, 150), ("Dog Bed", "Cat Toy", "Leash", "Feeder", "Scratching Post")),
    "Grocery": ("GRO", (2, 40), ("Coffee Beans", "Green Tea", "Olive Oil", "Honey", "Granola")),
}
ADJECTIVES = (
    "Classic", "Premium", "Compact", "Deluxe", "Eco", "Vintage", "Modern", "Rustic",
    "Smart", "Portable", "Ergonomic", "Handmade", "Essential", "Ultra", "Cozy", "Sleek",
)  # fmt: skip
MATERIALS = (
    "Bamboo", "Steel", "Oak", "Cotton", "Ceramic", "Glass", "Leather", "Wool", "Copper",
    "Linen", "Recycled", "Organic",
)  # fmt: skip

# 100-slot lookup tables: indexing with int(random() * 100) is much cheaper per row than
# random.choices() and still gives the skew real shops have (most orders are 1-2 items).
QUANTITIES = (1,) * 50 + (2,) * 22 + (3,) * 10 + (4,) * 6 + (5,) * 4 + (6, 7, 8, 10) * 2
# Status depends on how old an order is: recent ones are still in flight, old ones settled.
STATUS_RECENT = ("pending",) * 40 + ("paid",) * 40 + ("shipped",) * 15 + ("cancelled",) * 5
STATUS_WEEKS = ("paid",) * 8 + ("shipped",) * 50 + ("delivered",) * 35 + ("cancelled",) * 7
STATUS_SETTLED = (
    ("delivered",) * 86 + ("cancelled",) * 6 + ("refunded",) * 4 + ("shipped",) * 2
    + ("pending",) + ("paid",)
)  # fmt: skip
UNSHIPPED = frozenset({"pending", "paid", "cancelled"})

# A few comments mention "gift" so a text search for it finds a realistic handful of rows.
ORDER_COMMENTS = (
    "Please leave the parcel at the back door.",
    "Call before delivery.",
    "Deliver after 5pm if possible.",
    "Second order this month, thanks!",
    "Packaging was damaged last time.",
    "Invoice to the company address, please.",
    "Do not ring the bell, baby sleeping.",
    "Fragile, handle with care.",
    "Can this ship together with my previous order?",
    "Urgent: needed by Friday.",
)
GIFT_COMMENTS = (
    "This is a gift, please remove the price tag.",
    "Gift wrap in blue paper, please.",
    "Birthday gift - add a card saying Happy Birthday!",
    "Please include a gift receipt.",
)


def _day_strings(start: dt.date, end: dt.date) -> list[str]:
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _spread_days(rng: random.Random, count: int, start: dt.date, end: dt.date) -> list[int]:
    """Sorted day offsets from ``start``, so ids grow with dates like an autoincrement would."""
    span = (end - start).days
    return sorted(rng.randrange(span + 1) for _ in range(count))


def _customer_rows(rng: random.Random, signup_days: list[int]) -> Iterator[tuple]:
    days = _day_strings(*CUSTOMER_SIGNUPS)
    rnd = rng.random
    for cid, day in enumerate(signup_days, start=1):
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        # The id suffix keeps emails unique without a retry loop.
        email = (
            f"{first}.{last}{cid}@{rng.choice(EMAIL_DOMAINS)}".lower()
            .replace("'", "")
            .replace("ü", "ue")
        )
        yield (
            cid,
            f"{first} {last}",
            email,
            None if rnd() < 0.10 else rng.choice(CITIES),
            days[day],
            1 if rnd() < 0.85 else 0,
            None if rnd() < 0.25 else rng.choice(CREDIT_LIMITS),
            rng.choice(CUSTOMER_NOTES) if rnd() < 0.05 else None,
        )


def _product_rows(rng: random.Random, added_days: list[int]) -> Iterator[tuple]:
    days = _day_strings(*PRODUCT_ADDITIONS)
    categories = list(CATEGORIES)
    for pid, day in enumerate(added_days, start=1):
        category = rng.choice(categories)
        prefix, (low, high), nouns = CATEGORIES[category]
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {rng.choice(nouns)}"
        # Skewed towards the cheap end of the range, ending in .99 like shop prices do.
        price = round(low + (high - low) * rng.random() ** 2.5) + 0.99
        seconds = rng.randrange(8 * 3600, 20 * 3600)
        yield (
            pid,
            f"{prefix}-{pid:06d}",
            name,
            category,
            price,
            1 if rng.random() < 0.88 else 0,
            f"{days[day]} {_clock(seconds)}",
        )


def _available_by_day(item_days: list[int], item_start: dt.date) -> list[int]:
    """For each order day, how many customers/products (ids 1..n) existed by then.

    Picking ids below that bound keeps the data plausible: nobody orders before signing
    up and no product is sold before it was added.
    """
    offset = (ORDERS_START - item_start).days
    order_days = (ORDERS_END - ORDERS_START).days + 1
    # bisect_left: only items from earlier days count, since times within a day are random.
    return [max(1, bisect.bisect_left(item_days, offset + day)) for day in range(order_days)]


def _order_rows(
    rng: random.Random,
    count: int,
    customers_by_day: list[int],
    products_by_day: list[int],
    prices: list[float],
) -> Iterator[tuple]:
    days = _day_strings(ORDERS_START, ORDERS_END)
    last_day = (ORDERS_END - ORDERS_START).days
    span = (last_day + 1) * 86400 - 1
    clocks = [_clock(s) for s in range(86400)]
    comments = ORDER_COMMENTS
    gift_comments = GIFT_COMMENTS
    quantities = QUANTITIES
    unshipped = UNSHIPPED
    rnd = rng.random
    for oid in range(1, count + 1):
        # Orders/day grows over time (a growing shop); jitter of up to ~1h means
        # ordered_at only *roughly* follows id, as with real concurrent checkouts.
        t = int(span * ((oid - 0.5) / count) ** 0.8)
        jittered = t + int((rnd() - 0.5) * 7200)
        if 0 <= jittered <= span:
            t = jittered
        day, second = divmod(t, 86400)
        age = last_day - day
        status_table = STATUS_RECENT if age < 3 else STATUS_WEEKS if age < 14 else STATUS_SETTLED
        status = status_table[int(rnd() * 100)]
        customer = 1 + int(customers_by_day[day] * rnd() ** 1.3)  # loyal early customers
        product = 1 + int(products_by_day[day] * rnd() ** 1.6)  # long-tail of bestsellers
        price = prices[product]
        if rnd() < 0.15:
            price = round(price * (0.7 + 0.25 * rnd()), 2)
        gift = rnd() < 0.08
        if gift:
            comment = gift_comments[int(rnd() * 4)] if rnd() < 0.4 else None
        else:
            comment = comments[int(rnd() * 10)] if rnd() < 0.075 else None
        yield (
            oid,
            customer,
            product,
            quantities[int(rnd() * 100)],
            price,
            status,
            f"{days[day]} {clocks[second]}",
            # Capped at the last day so nothing has shipped "in the future".
            None if status in unshipped else days[min(day + 1 + int(rnd() * 4), last_day)],
            1 if gift else 0,
            comment,
        )


def _insert(conn: sqlite3.Connection, sql: str, rows: Iterator[tuple]) -> None:
    # Bounded batches keep memory flat however many orders are requested.
    while batch := list(itertools.islice(rows, BATCH_SIZE)):
        conn.executemany(sql, batch)


def build_demo_database(
    path: str | os.PathLike, orders: int = 1_000_000, seed: int = 7
) -> dict[str, int]:
    """Create (or replace) the demo database at ``path`` and return row counts per table."""
    if orders < 0:
        raise ValueError("orders must not be negative")
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    # Built under a temporary name next to the target, then renamed: a reader never
    # sees a half-written file, and the rename stays on one filesystem (atomic).
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    for leftover in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)

    rng = random.Random(seed)
    customer_days = _spread_days(rng, CUSTOMER_COUNT, *CUSTOMER_SIGNUPS)
    product_days = _spread_days(rng, PRODUCT_COUNT, *PRODUCT_ADDITIONS)
    product_rows = list(_product_rows(rng, product_days))
    prices = [0.0] + [row[4] for row in product_rows]

    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        # Durability is pointless for a file that is thrown away if the build fails,
        # and skipping it makes the bulk load several times faster.
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("BEGIN")
        for statement in filter(str.strip, SCHEMA.split(";")):
            conn.execute(statement)
        _insert(conn, INSERT_CUSTOMER, _customer_rows(rng, customer_days))
        _insert(conn, INSERT_PRODUCT, iter(product_rows))
        _insert(
            conn,
            INSERT_ORDER,
            _order_rows(
                rng,
                orders,
                _available_by_day(customer_days, CUSTOMER_SIGNUPS[0]),
                _available_by_day(product_days, PRODUCT_ADDITIONS[0]),
                prices,
            ),
        )
        for statement in filter(str.strip, INDEXES.split(";")):
            conn.execute(statement)
        conn.execute("COMMIT")
        counts = {table: conn.execute(sql).fetchone()[0] for table, sql in COUNT_ROWS.items()}
        # WAL is persisted in the file header, so the app's readers don't block writers.
        conn.execute("PRAGMA journal_mode=WAL")
    except BaseException:
        conn.close()
        tmp.unlink(missing_ok=True)
        raise
    conn.close()

    # A -wal/-shm pair left by the old database would be replayed into the new file
    # and corrupt it, so it must go before the rename.
    Path(f"{final}-wal").unlink(missing_ok=True)
    Path(f"{final}-shm").unlink(missing_ok=True)
    os.replace(tmp, final)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build Nocoflo's demo SQLite database.")
    parser.add_argument("path", help="where to write the database (replaced if it exists)")
    parser.add_argument("--orders", type=int, default=1_000_000, help="number of orders rows")
    parser.add_argument("--seed", type=int, default=7, help="random seed (same seed, same data)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counts = build_demo_database(args.path, orders=args.orders, seed=args.seed)
    elapsed = time.perf_counter() - started
    for table, count in counts.items():
        print(f"{table:<10} {count:>10,}")
    size_mb = os.path.getsize(args.path) / 1_000_000
    print(f"wrote {args.path} ({size_mb:.1f} MB) in {elapsed:.1f}s")


if __name__ == "__main__":
    main()
