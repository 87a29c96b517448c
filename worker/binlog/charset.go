package binlog

import (
	"github.com/pingcap/tidb/pkg/parser/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"

	"github.com/dtsrepl/dts/worker/schema"
)

// MariaDB numbers its NO PAD collations 1024 above the PAD SPACE collation of the same
// charset and rules (utf8mb4_nopad_bin is 1070, utf8mb4_bin 46).
const mariadbNoPadOffset = 1024

// collation returns the name and charset of a collation id, as far as known.
func collation(id uint64) (name, cs string, ok bool) {
	if id == binaryCollation {
		return "binary", "binary", true
	}
	if c, err := charset.GetCollationByID(int(id)); err == nil {
		return c.Name, c.CharsetName, true
	}
	if id >= mariadbNoPadOffset && id < 2*mariadbNoPadOffset {
		if c, err := charset.GetCollationByID(int(id - mariadbNoPadOffset)); err == nil {
			return c.Name, c.CharsetName, true
		}
	}
	return "", "", false
}

// maxBytes is the most bytes a character of a collation's charset takes, 0 if unknown.
func maxBytes(id uint64) int {
	_, cs, ok := collation(id)
	if !ok {
		return 0
	}
	if c, _ := charset.GetCharsetInfo(cs); c != nil {
		return c.Maxlen
	}
	return 0
}

// collationCI reports whether a collation compares case-insensitively. Unknown ids (MariaDB's
// newer UCA collations) are taken as case-insensitive, the family of every server default.
func collationCI(id uint64) bool {
	name, _, ok := collation(id)
	if !ok {
		return true
	}
	return schema.CaseInsensitive(name)
}

// textDecoders turns the bytes of text in a legacy charset into UTF-8. The binlog carries text
// in the column's own charset; a query over a utf8mb4 connection gets it converted by the
// server, so the stream converts too, or snapshot and stream would disagree.
var textDecoders = map[string]encoding.Encoding{
	"latin1":   charmap.Windows1252, // MySQL's latin1 is cp1252
	"latin2":   charmap.ISO8859_2,
	"latin5":   charmap.ISO8859_9,
	"latin7":   charmap.ISO8859_13,
	"greek":    charmap.ISO8859_7,
	"hebrew":   charmap.ISO8859_8,
	"cp1250":   charmap.Windows1250,
	"cp1251":   charmap.Windows1251,
	"cp1256":   charmap.Windows1256,
	"cp1257":   charmap.Windows1257,
	"cp850":    charmap.CodePage850,
	"cp852":    charmap.CodePage852,
	"cp866":    charmap.CodePage866,
	"koi8r":    charmap.KOI8R,
	"koi8u":    charmap.KOI8U,
	"tis620":   charmap.Windows874,
	"macroman": charmap.Macintosh,
	"gbk":      simplifiedchinese.GBK,
	"gb2312":   simplifiedchinese.GBK, // GBK is a superset of EUC-CN
	"gb18030":  simplifiedchinese.GB18030,
	"big5":     traditionalchinese.Big5,
	"sjis":     japanese.ShiftJIS,
	"cp932":    japanese.ShiftJIS,
	"ujis":     japanese.EUCJP,
	"eucjpms":  japanese.EUCJP,
	"euckr":    korean.EUCKR,
	"ucs2":     unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM),
	"utf16":    unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM),
	"utf16le":  unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM),
	"utf32":    utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM),
}

// decoderFor returns the decoder of a text column's collation; nil for UTF-8, ASCII and
// binary, which need none, and for charsets dts does not know (their bytes pass through).
func decoderFor(id uint64) encoding.Encoding {
	_, cs, ok := collation(id)
	if !ok {
		return nil
	}
	return textDecoders[cs]
}
