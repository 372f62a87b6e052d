//! Reading a Parquet file that may be damaged or hostile, without a panic or an unbounded
//! allocation. polars' reader trusts the file, and `scripts/fuzz` found it:
//! - panicking on a footer with a non-boolean value in a boolean field ("thrift bool field");
//! - allocating what a footer's list declares before reading it (78 GB for 2^31 schema elements),
//!   or what a number's bytes declare when read as a list's length;
//! - reserving 2^61 bytes, and aborting, for a data page that declares a negative value count;
//! - returning a frame whose columns are shorter than its height when pages hold fewer values
//!   than their row group declares.
//!
//! So the file is checked first: its footer's shape ([`thrift_walk`]), then the footer as
//! polars-parquet reads it, then every page header, with each count bounded by the file's size.
//! polars then decodes it, and the frame's columns are checked against its height. The reading
//! runs under [`guarded`]: a panic left in polars is an error naming the file.

use std::fs::File;
use std::io::Cursor;
use std::path::Path;

use polars::prelude::*;
use polars_parquet::parquet::read::read_metadata;
use polars_parquet_format::PageHeader;
use polars_parquet_format::thrift::protocol::TCompactInputProtocol;

use crate::error::TableError;
use crate::panics::guarded;

mod thrift_walk;

/// Rows a file may declare per byte of its size. An annotation table holds an id per row (a
/// generation id at least), which no encoding stores in under a byte per eight rows; a file that
/// declares more is damaged, and decoding it would allocate far beyond its size.
const ROWS_PER_BYTE: u64 = 8;
/// Rows any file may declare, however small (so that a tiny valid table is never refused).
const MIN_ROWS_ALLOWED: u64 = 1 << 20;
/// The largest page, once decompressed. Writers cut pages at about 1 MiB (pyarrow and polars
/// both); a page that declares more than this is damaged.
const MAX_PAGE_BYTES: u64 = 256 << 20;

/// Reads a whole Parquet file into a frame, refusing a damaged one with an error naming it.
pub fn read_parquet(path: &Path) -> Result<DataFrame, TableError> {
    let bytes = std::fs::read(path).map_err(TableError::io(path))?;
    let damaged = |message: String| TableError::Invalid {
        path: path.to_path_buf(),
        message: format!("not a readable Parquet file: {message}"),
    };
    guarded(|| check_structure(bytes))
        .map_err(|p| damaged(format!("its structure could not be read ({p})")))?
        .map_err(damaged)?;
    let file = File::open(path).map_err(TableError::io(path))?;
    let df = guarded(|| ParquetReader::new(file).finish())
        .map_err(|p| damaged(format!("polars could not decode it ({p})")))?
        .map_err(TableError::polars(path))?;
    // A page that holds fewer values than its row group declares gives a column shorter than the
    // frame, which polars does not check.
    if let Some(c) = df.columns().iter().find(|c| c.len() != df.height()) {
        return Err(damaged(format!(
            "column `{}` holds {} values where the file declares {} rows",
            c.name(),
            c.len(),
            df.height()
        )));
    }
    Ok(df)
}

/// The footer's Thrift bytes: a Parquet file ends with them, their length (4 bytes, little
/// endian) and `PAR1`, and begins with `PAR1`.
fn footer_bytes(bytes: &[u8]) -> Result<&[u8], String> {
    let len = bytes.len();
    if len < 12 || &bytes[..4] != b"PAR1" || &bytes[len - 4..] != b"PAR1" {
        return Err(format!(
            "it does not begin and end with `PAR1` ({len} bytes), as a Parquet file does"
        ));
    }
    let declared =
        u32::from_le_bytes(bytes[len - 8..len - 4].try_into().expect("4 bytes")) as usize;
    if declared > len - 12 {
        return Err(format!(
            "its footer declares {declared} bytes, more than the file's {len} hold"
        ));
    }
    Ok(&bytes[len - 8 - declared..len - 8])
}

/// Walks the footer and every page header of the file, bounding each count by the file's size.
fn check_structure(bytes: Vec<u8>) -> Result<(), String> {
    let len = bytes.len() as u64;
    let max_rows = (len * ROWS_PER_BYTE).max(MIN_ROWS_ALLOWED);
    let footer = footer_bytes(&bytes)?;
    thrift_walk::check_footer(footer).map_err(|e| format!("its footer is damaged: {e}"))?;
    let meta = guarded(|| read_metadata(&mut Cursor::new(&bytes[..])))
        .map_err(|p| format!("its footer is damaged ({p})"))?
        .map_err(|e| format!("its footer is damaged: {e}"))?;
    let too_many = |what: String, n: u64| {
        format!(
            "{what} declares {n} values, more than a file of {len} bytes can hold \
             ({ROWS_PER_BYTE} per byte): the file is damaged"
        )
    };
    if meta.num_rows as u64 > max_rows {
        return Err(too_many("the footer".into(), meta.num_rows as u64));
    }
    let mut rows = 0u64;
    for (g, group) in meta.row_groups.iter().enumerate() {
        rows += group.num_rows() as u64;
        if rows > max_rows {
            return Err(too_many(format!("row group {g}"), rows));
        }
        for column in group.parquet_columns() {
            let name = column.descriptor().path_in_schema.join(".");
            let at = |what: &str| format!("column `{name}` of row group {g}: {what}");
            let range = column.byte_range();
            if range.start > range.end || range.end > len {
                return Err(at(&format!(
                    "its bytes {}..{} lie outside the file's {len}",
                    range.start, range.end
                )));
            }
            let values = column.num_values();
            if values < 0 || values as u64 > max_rows {
                return Err(at(&too_many("it".into(), values as u64)));
            }
            let chunk = &bytes[range.start as usize..range.end as usize];
            check_pages(chunk, values as u64, max_rows).map_err(|e| at(&e))?;
        }
    }
    Ok(())
}

/// Reads the page headers of one column chunk as polars does (until the chunk's `values` are
/// seen), refusing a negative count, more values than `max_rows`, a page larger than
/// [`MAX_PAGE_BYTES`] once decompressed, or a page that runs past the chunk.
fn check_pages(chunk: &[u8], values: u64, max_rows: u64) -> Result<(), String> {
    let (mut at, mut seen) = (0usize, 0u64);
    for i in 0.. {
        if seen >= values || at >= chunk.len() {
            return Ok(());
        }
        let mut cursor = Cursor::new(&chunk[at..]);
        let header = {
            let mut protocol = TCompactInputProtocol::new(&mut cursor, chunk.len() - at);
            PageHeader::read_from_in_protocol(&mut protocol)
                .map_err(|e| format!("page {i}: its header is damaged: {e}"))?
        };
        let mut counts = vec![
            ("compressed size", header.compressed_page_size),
            ("decompressed size", header.uncompressed_page_size),
        ];
        let mut data_values = 0;
        if let Some(h) = &header.data_page_header {
            counts.push(("value count", h.num_values));
            data_values = h.num_values;
        }
        if let Some(h) = &header.data_page_header_v2 {
            counts.extend([
                ("value count", h.num_values),
                ("null count", h.num_nulls),
                ("row count", h.num_rows),
            ]);
            data_values = h.num_values;
        }
        if let Some(h) = &header.dictionary_page_header {
            counts.push(("dictionary size", h.num_values));
            if h.num_values as u64 > max_rows {
                return Err(format!(
                    "page {i} declares a dictionary of {} values, more than the file can hold",
                    h.num_values
                ));
            }
        }
        if let Some((what, n)) = counts.iter().find(|(_, n)| *n < 0) {
            return Err(format!("page {i} declares a negative {what} ({n})"));
        }
        seen += data_values as u64;
        if seen > max_rows {
            return Err(format!(
                "page {i} brings the values declared to {seen}, more than the file can hold"
            ));
        }
        if header.uncompressed_page_size as u64 > MAX_PAGE_BYTES {
            return Err(format!(
                "page {i} declares {} bytes once decompressed (at most {MAX_PAGE_BYTES} are read)",
                header.uncompressed_page_size
            ));
        }
        at += cursor.position() as usize + header.compressed_page_size as usize;
        if at > chunk.len() {
            return Err(format!("page {i} runs past the end of its column's bytes"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(name: &str) -> (std::path::PathBuf, Vec<u8>) {
        let dir =
            std::env::temp_dir().join(format!("rewardlab-parquet-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.parquet");
        let mut df =
            df!("generation_id" => ["g1", "g2", "g3"], "rank" => [Some(1i32), None, Some(2)])
                .unwrap();
        ParquetWriter::new(File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        (path, bytes)
    }

    #[test]
    fn a_valid_file_reads_whole() {
        let (path, _) = written("valid");
        let df = read_parquet(&path).unwrap();
        assert_eq!(df.shape(), (3, 2));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn files_written_by_pyarrow_and_pandas_read_whole() {
        // tests/fixtures/parquet-writers/make_files.py: seven layouts other writers produce.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/parquet-writers");
        let mut read = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "parquet") {
                continue;
            }
            let df = read_parquet(&path).unwrap_or_else(|e| panic!("{e}"));
            let rows = if path.ends_with("pyarrow-no-rows.parquet") {
                0
            } else {
                200
            };
            assert_eq!(df.height(), rows, "{}", path.display());
            read += 1;
        }
        assert_eq!(read, 7);
    }

    #[test]
    fn a_truncated_or_garbled_file_is_an_error_naming_it() {
        let (path, bytes) = written("damaged");
        for cut in [0, 4, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let err = read_parquet(&path).unwrap_err().to_string();
            assert!(
                err.contains("t.parquet") && err.contains("not a readable Parquet"),
                "{err}"
            );
        }
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
