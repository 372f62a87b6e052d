//! A walk over a Parquet footer's Thrift compact-protocol bytes that reads no value and only
//! checks their shape, as polars' footer reader will read them. That reader takes each field by
//! its id, whatever type the bytes declare, and sizes its vectors from a list's declared length
//! before reading it: a field declared as a number but read as a list made it allocate 78 GB
//! (found by `scripts/fuzz`), and a number where a boolean belongs panicked it. So each field
//! polars reads must have the type polars reads it as ([`FILE_META_DATA`] and the structs under
//! it), every list, and every string, must fit in the bytes left, and nesting stays shallow.

/// How polars reads a field (`polars-parquet` 0.55.2, `handwritten_thrift/file_metadata_thrift.rs`).
#[derive(Clone, Copy)]
enum Shape {
    /// A boolean: its value is in its type (1 or 2).
    Bool,
    /// One raw byte (type 3).
    Byte,
    /// A zigzag varint (types 4, 5 and 6: i16, i32, i64).
    Varint,
    /// A length and that many bytes (type 8).
    Binary,
    /// A list (type 9) whose elements all have this shape.
    List(&'static Shape),
    /// A struct (type 12) with these fields; the others are skipped by their declared type.
    Struct(&'static [(i16, Shape)]),
}

use Shape::{Binary, Bool, Byte, List, Struct, Varint};

const EMPTY: &[(i16, Shape)] = &[];
const TIME_UNIT: &[(i16, Shape)] = &[(1, Struct(EMPTY)), (2, Struct(EMPTY)), (3, Struct(EMPTY))];
const TIME: &[(i16, Shape)] = &[(1, Bool), (2, Struct(TIME_UNIT))];
const LOGICAL_TYPE: &[(i16, Shape)] = &[
    (1, Struct(EMPTY)),
    (2, Struct(EMPTY)),
    (3, Struct(EMPTY)),
    (4, Struct(EMPTY)),
    (5, Struct(&[(1, Varint), (2, Varint)])),
    (6, Struct(EMPTY)),
    (7, Struct(TIME)),
    (8, Struct(TIME)),
    (10, Struct(&[(1, Byte), (2, Bool)])),
    (11, Struct(EMPTY)),
    (12, Struct(EMPTY)),
    (13, Struct(EMPTY)),
    (14, Struct(EMPTY)),
    (15, Struct(EMPTY)),
];
const SCHEMA_ELEMENT: &[(i16, Shape)] = &[
    (1, Varint),
    (2, Varint),
    (3, Varint),
    (4, Binary),
    (5, Varint),
    (6, Varint),
    (7, Varint),
    (8, Varint),
    (9, Varint),
    (10, Struct(LOGICAL_TYPE)),
];
const STATISTICS: &[(i16, Shape)] = &[
    (1, Binary),
    (2, Binary),
    (3, Varint),
    (4, Varint),
    (5, Binary),
    (6, Binary),
    (7, Bool),
    (8, Bool),
];
const COLUMN_META_DATA: &[(i16, Shape)] = &[
    (1, Varint),
    (2, List(&Varint)),
    (3, List(&Binary)),
    (4, Varint),
    (5, Varint),
    (6, Varint),
    (7, Varint),
    (9, Varint),
    (10, Varint),
    (11, Varint),
    (12, Struct(STATISTICS)),
    (14, Varint),
    (15, Varint),
];
const COLUMN_CHUNK: &[(i16, Shape)] = &[
    (1, Binary),
    (2, Varint),
    (3, Struct(COLUMN_META_DATA)),
    (4, Varint),
    (5, Varint),
    (6, Varint),
    (7, Varint),
];
const SORTING_COLUMN: &[(i16, Shape)] = &[(1, Varint), (2, Bool), (3, Bool)];
const ROW_GROUP: &[(i16, Shape)] = &[
    (1, List(&Struct(COLUMN_CHUNK))),
    (2, Varint),
    (3, Varint),
    (4, List(&Struct(SORTING_COLUMN))),
    (5, Varint),
    (6, Varint),
    (7, Varint),
];
const KEY_VALUE: &[(i16, Shape)] = &[(1, Binary), (2, Binary)];
const COLUMN_ORDER: &[(i16, Shape)] = &[(1, Struct(EMPTY)), (2, Struct(EMPTY))];
/// The footer.
const FILE_META_DATA: &[(i16, Shape)] = &[
    (1, Varint),
    (2, List(&Struct(SCHEMA_ELEMENT))),
    (3, Varint),
    (4, List(&Struct(ROW_GROUP))),
    (5, List(&Struct(KEY_VALUE))),
    (6, Binary),
    (7, List(&Struct(COLUMN_ORDER))),
];

/// Struct and list nesting allowed (polars skips unknown fields to a depth of 64).
const MAX_DEPTH: usize = 64;

/// Checks that `footer` begins with a `FileMetaData` that polars reads as its bytes declare it.
pub(super) fn check_footer(footer: &[u8]) -> Result<(), String> {
    let mut walk = Walk {
        bytes: footer,
        at: 0,
    };
    walk.structure(Some(FILE_META_DATA), 0)
}

struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Walk<'_> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| format!("it ends inside a value (byte {})", self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), String> {
        if n > self.left() as u64 {
            return Err(format!(
                "a {what} at byte {} declares {n} bytes, past the {} left",
                self.at,
                self.left()
            ));
        }
        self.at += n as usize;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(format!("a number at byte {} runs past 10 bytes", self.at))
    }

    /// A struct whose fields polars reads as `known` says (`None`: skipped whole, by type).
    fn structure(&mut self, known: Option<&[(i16, Shape)]>, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "values nest deeper than {MAX_DEPTH} at byte {}",
                self.at
            ));
        }
        let mut last_id = 0i16;
        loop {
            let header = self.byte()?;
            let kind = header & 0x0f;
            // Type 0 ends the struct whatever the delta bits say, as polars reads it.
            if kind == 0 {
                return Ok(());
            }
            let delta = header >> 4;
            let id = if delta == 0 {
                let v = self.varint()?;
                ((v >> 1) as i64 ^ -((v & 1) as i64)) as i16
            } else {
                last_id
                    .checked_add(i16::from(delta))
                    .ok_or_else(|| format!("a field id past {} at byte {}", i16::MAX, self.at))?
            };
            let expected = known.and_then(|k| k.iter().find(|(i, _)| *i == id));
            match expected {
                Some((_, shape)) => self.shaped(*shape, kind, id, depth)?,
                None => self.skipped(kind, depth)?,
            }
            last_id = id;
        }
    }

    /// A field polars reads as `shape`, declared of type `kind`.
    fn shaped(&mut self, shape: Shape, kind: u8, id: i16, depth: usize) -> Result<(), String> {
        let fits = match shape {
            Bool => matches!(kind, 1 | 2),
            Byte => kind == 3,
            Varint => matches!(kind, 4..=6),
            Binary => kind == 8,
            List(_) => kind == 9,
            Struct(_) => kind == 12,
        };
        if !fits {
            return Err(format!(
                "field {id} at byte {} has type {kind}, where Parquet has {}",
                self.at,
                name(shape)
            ));
        }
        self.value(shape, depth)
    }

    /// A value of `shape` (a field's, whose type was checked, or a list element's).
    fn value(&mut self, shape: Shape, depth: usize) -> Result<(), String> {
        match shape {
            Bool => Ok(()),
            Byte => self.skip(1, "byte"),
            Varint => self.varint().map(drop),
            Binary => {
                let n = self.varint()?;
                self.skip(n, "string")
            }
            Struct(fields) => self.structure(Some(fields), depth + 1),
            List(element) => {
                let (kind, n) = self.list_header(depth)?;
                let fits = match element {
                    Varint => matches!(kind, 4..=6),
                    Binary => kind == 8,
                    Struct(_) => kind == 12,
                    _ => false,
                };
                if n > 0 && !fits {
                    return Err(format!(
                        "a list at byte {} holds type {kind}, where Parquet has {}",
                        self.at,
                        name(*element)
                    ));
                }
                for _ in 0..n {
                    self.value(*element, depth + 1)?;
                }
                Ok(())
            }
        }
    }

    /// A field polars does not read, skipped by its declared type as polars skips it.
    fn skipped(&mut self, kind: u8, depth: usize) -> Result<(), String> {
        match kind {
            1 | 2 => Ok(()),
            3 => self.skip(1, "byte"),
            4..=6 => self.varint().map(drop),
            7 => self.skip(8, "double"),
            8 => {
                let n = self.varint()?;
                self.skip(n, "string")
            }
            9 => {
                let (element, n) = self.list_header(depth)?;
                // polars skips a list's booleans as taking no byte (the protocol gives each
                // one), so such a list would be read apart from its bytes; Parquet has none.
                if n > 0 && matches!(element, 1 | 2) {
                    return Err(format!("a list of booleans at byte {}", self.at));
                }
                for _ in 0..n {
                    self.skipped(element, depth + 1)?;
                }
                Ok(())
            }
            12 => self.structure(None, depth + 1),
            other => Err(format!("a value of type {other} at byte {}", self.at)),
        }
    }

    /// A list's element type and length, the length bounded by the bytes left (every element
    /// of a list polars reads takes one at least).
    fn list_header(&mut self, depth: usize) -> Result<(u8, u64), String> {
        if depth + 1 > MAX_DEPTH {
            return Err(format!(
                "values nest deeper than {MAX_DEPTH} at byte {}",
                self.at
            ));
        }
        let header = self.byte()?;
        let mut n = u64::from(header >> 4);
        if n == 15 {
            n = self.varint()?;
        }
        if n > self.left() as u64 {
            return Err(format!(
                "a list at byte {} declares {n} elements, more than the {} bytes left",
                self.at,
                self.left()
            ));
        }
        Ok((header & 0x0f, n))
    }
}

fn name(shape: Shape) -> &'static str {
    match shape {
        Bool => "a boolean",
        Byte => "a byte",
        Varint => "an integer",
        Binary => "a string",
        List(_) => "a list",
        Struct(_) => "a struct",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_footer_of_every_kind_walks_whole() {
        // version 1; schema [ { name "ab", logical type { STRING {} } } ]; num_rows 3;
        // field 17 (unknown to polars): a double, skipped; stop.
        let bytes = [
            0x15, 0x02, 0x19, 0x1c, 0x48, 0x02, b'a', b'b', 0x6c, 0x1c, 0x00, 0x00, 0x00, 0x16,
            0x06, 0x07, 0x22, 0, 0, 0, 0, 0, 0, 0, 0, 0x00,
        ];
        assert_eq!(check_footer(&bytes), Ok(()));
    }

    #[test]
    fn a_list_longer_than_the_bytes_left_is_refused() {
        // field 2 (the schema): a list of 2^31 - 1 structs, declared in a varint
        let bytes = [0x29, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00];
        let err = check_footer(&bytes).unwrap_err();
        assert!(err.contains("2147483647 elements"), "{err}");
    }

    #[test]
    fn a_field_of_another_type_than_polars_reads_is_refused() {
        // field 2 (the schema, a list) declared as an i32 whose bytes read as a huge list
        let bytes = [0x25, 0xfc, 0xff, 0xff, 0xff, 0x07, 0x00];
        let err = check_footer(&bytes).unwrap_err();
        assert!(err.contains("field 2") && err.contains("a list"), "{err}");
        // a sorting column's `descending` as an i32: polars panicked on it
        let sorting = [
            0x49, 0x1c, 0x49, 0x1c, 0x15, 0x00, 0x15, 0x02, 0x00, 0x00, 0x00,
        ];
        let err = check_footer(&sorting).unwrap_err();
        assert!(err.contains("a boolean"), "{err}");
    }

    #[test]
    fn deep_nesting_and_cut_values_are_refused() {
        let deep: Vec<u8> = std::iter::repeat_n(0xfc, 100).collect();
        assert!(check_footer(&deep).unwrap_err().contains("deeper"));
        assert!(
            check_footer(&[0x68, 0x05, b'a'])
                .unwrap_err()
                .contains("string")
        );
        assert!(check_footer(&[0x15]).unwrap_err().contains("ends inside"));
    }
}
