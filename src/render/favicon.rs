//! The site's icon, ours and tiny: a serif "I" (for INSIGHTS) in newsprint
//! on an ink square. Two forms of one drawing:
//!
//! - `/favicon.svg`, which every page links with `<link rel="icon">`;
//!   browsers that read the link use it at any size.
//! - `/favicon.ico`, a 16 × 16 Windows icon drawn from the same grid, for
//!   the clients that ask for `/favicon.ico` without reading the page (feed
//!   readers fetching a site's icon, older browsers, bookmarks): without
//!   it, each of those requests would be a 404 in the access log.
//!
//! The ICO is built here from the grid below rather than checked in as a
//! binary, so the drawing can be read and reviewed, and the bytes never
//! change from build to build.

/// Where the SVG icon is published, relative to the site root.
pub const SVG_PATH: &str = "favicon.svg";
/// Where the ICO icon is published, relative to the site root.
pub const ICO_PATH: &str = "favicon.ico";
/// The media type of the SVG icon.
pub const SVG_TYPE: &str = "image/svg+xml";
/// The media type of the ICO icon (the one browsers and servers use most).
pub const ICO_TYPE: &str = "image/x-icon";

/// The icon as SVG: the same squares as [`GRID`], with rounded corners.
pub fn svg() -> Vec<u8> {
    SVG.as_bytes().to_vec()
}

const SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">\
<rect width=\"16\" height=\"16\" rx=\"2\" fill=\"#1a1a1a\"/>\
<path fill=\"#f4efe6\" d=\"M5 3h6v2H9v6h2v2H5v-2h2V5H5z\"/></svg>\n";

/// The drawing, top row first: `#` ink, `I` newsprint, `.` transparent.
const GRID: [&[u8; 16]; 16] = [
    b".##############.",
    b"################",
    b"################",
    b"#####IIIIII#####",
    b"#####IIIIII#####",
    b"#######II#######",
    b"#######II#######",
    b"#######II#######",
    b"#######II#######",
    b"#######II#######",
    b"#######II#######",
    b"#####IIIIII#####",
    b"#####IIIIII#####",
    b"################",
    b"################",
    b".##############.",
];

/// Blue, green, red, alpha: the order of a 32-bit BMP's pixels.
const INK: [u8; 4] = [0x1a, 0x1a, 0x1a, 0xff];
const NEWSPRINT: [u8; 4] = [0xe6, 0xef, 0xf4, 0xff];
const CLEAR: [u8; 4] = [0, 0, 0, 0];

/// The icon as a Windows ICO file holding one 16 × 16, 32-bit image.
pub fn ico() -> Vec<u8> {
    const SIDE: u32 = 16;
    // Each row of the 1-bit transparency mask is padded to 4 bytes.
    const MASK_ROW: usize = 4;
    let pixels_len = (SIDE * SIDE * 4) as usize;
    let mask_len = SIDE as usize * MASK_ROW;
    let image_len = 40 + pixels_len + mask_len;

    let mut bytes = Vec::with_capacity(6 + 16 + image_len);
    // ICONDIR: reserved, type 1 (icon), one image.
    bytes.extend_from_slice(&[0, 0, 1, 0, 1, 0]);
    // ICONDIRENTRY: width, height, no palette, reserved, 1 plane, 32 bits,
    // the image's size and where it starts (after these 22 bytes).
    bytes.extend_from_slice(&[SIDE as u8, SIDE as u8, 0, 0, 1, 0, 32, 0]);
    bytes.extend_from_slice(&(image_len as u32).to_le_bytes());
    bytes.extend_from_slice(&22u32.to_le_bytes());
    // BITMAPINFOHEADER: the height counts the colour rows and the mask rows.
    bytes.extend_from_slice(&40u32.to_le_bytes());
    bytes.extend_from_slice(&SIDE.to_le_bytes());
    bytes.extend_from_slice(&(2 * SIDE).to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&32u16.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes()); // no compression
    bytes.extend_from_slice(&((pixels_len + mask_len) as u32).to_le_bytes());
    bytes.extend_from_slice(&[0; 16]); // resolution and palette: none
                                       // Rows go bottom-up in a BMP.
    for row in GRID.iter().rev() {
        for cell in row.iter() {
            bytes.extend_from_slice(match cell {
                b'#' => &INK,
                b'I' => &NEWSPRINT,
                _ => &CLEAR,
            });
        }
    }
    for row in GRID.iter().rev() {
        let mut mask = [0u8; MASK_ROW];
        for (x, cell) in row.iter().enumerate() {
            if *cell == b'.' {
                mask[x / 8] |= 0x80 >> (x % 8);
            }
        }
        bytes.extend_from_slice(&mask);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ico_has_one_16_pixel_image_of_the_declared_size() {
        let ico = ico();
        assert_eq!(&ico[..6], &[0, 0, 1, 0, 1, 0]);
        assert_eq!((ico[6], ico[7]), (16, 16));
        let size = u32::from_le_bytes([ico[14], ico[15], ico[16], ico[17]]) as usize;
        let offset = u32::from_le_bytes([ico[18], ico[19], ico[20], ico[21]]) as usize;
        assert_eq!(offset + size, ico.len());
        assert_eq!(ico.len(), 6 + 16 + 40 + 16 * 16 * 4 + 16 * 4);
    }

    #[test]
    fn ico_pixels_follow_the_grid_bottom_up() {
        let ico = ico();
        let pixel = |x: usize, y_from_top: usize| {
            let row_from_bottom = 15 - y_from_top;
            let at = 22 + 40 + (row_from_bottom * 16 + x) * 4;
            [ico[at], ico[at + 1], ico[at + 2], ico[at + 3]]
        };
        assert_eq!(pixel(0, 0), CLEAR, "rounded corner");
        assert_eq!(pixel(1, 0), INK);
        assert_eq!(pixel(7, 7), NEWSPRINT, "the stem of the I");
        assert_eq!(pixel(5, 3), NEWSPRINT, "the top serif");
        assert_eq!(pixel(5, 7), INK);
        // The top-left corner is transparent in the mask too: the mask's
        // last row is the drawing's first.
        let mask_top_row = 22 + 40 + 16 * 16 * 4 + 15 * 4;
        assert_eq!(ico[mask_top_row], 0x80);
        assert_eq!(ico[mask_top_row + 1], 0x01);
    }

    #[test]
    fn svg_draws_the_same_letter_on_the_same_grid() {
        let svg = String::from_utf8(svg()).expect("utf-8");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">"));
        // The path's corners are the grid's: serifs from column 5 to 11,
        // rows 3 to 5 and 11 to 13; the stem from column 7 to 9.
        assert!(svg.contains("d=\"M5 3h6v2H9v6h2v2H5v-2h2V5H5z\""));
        assert_eq!(&GRID[3][5..11], b"IIIIII");
        assert_eq!(&GRID[7][7..9], b"II");
        assert_eq!(&GRID[12][5..11], b"IIIIII");
    }
}
