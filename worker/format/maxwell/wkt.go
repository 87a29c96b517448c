package maxwell

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
)

// errWKB is a geometry value dts cannot read as WKB.
var errWKB = errors.New("malformed WKB")

// appendWKT writes MySQL's geometry value (a 4-byte SRID, then WKB) as the Well-Known Text
// Maxwell outputs (GeometryColumnDef: JTS's Geometry.toText(), the SRID dropped):
// "POINT (1 2)", "POLYGON ((0 0, 1 0, 1 1, 0 0))", "MULTIPOINT ((1 2), (3 4))".
func appendWKT(dst []byte, v []byte) ([]byte, error) {
	if len(v) < 4 {
		return dst, errWKB
	}
	r := wkbReader{b: v[4:]}
	dst = r.geometry(dst)
	if r.err != nil {
		return dst, r.err
	}
	return dst, nil
}

type wkbReader struct {
	b     []byte
	order binary.ByteOrder
	err   error
}

var wktNames = [...]string{1: "POINT", 2: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT", 5: "MULTILINESTRING", 6: "MULTIPOLYGON", 7: "GEOMETRYCOLLECTION"}

func (r *wkbReader) uint32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.err = errWKB
		return 0
	}
	v := r.order.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *wkbReader) float() float64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errWKB
		return 0
	}
	v := math.Float64frombits(r.order.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

// header reads a geometry's byte order and type.
func (r *wkbReader) header() uint32 {
	if r.err != nil || len(r.b) < 1 {
		r.err = errWKB
		return 0
	}
	r.order = binary.BigEndian
	if r.b[0] == 1 {
		r.order = binary.LittleEndian
	}
	r.b = r.b[1:]
	t := r.uint32()
	if t < 1 || t > 7 {
		r.err = errWKB
	}
	return t
}

func (r *wkbReader) geometry(dst []byte) []byte {
	t := r.header()
	if r.err != nil {
		return dst
	}
	dst = append(dst, wktNames[t]...)
	if t == 1 { // a point: MySQL writes an empty one as NaN coordinates
		x, y := r.float(), r.float()
		if math.IsNaN(x) && math.IsNaN(y) {
			return append(dst, " EMPTY"...)
		}
		dst = append(dst, " ("...)
		dst = appendCoord(dst, x, y)
		return append(dst, ')')
	}
	n := r.uint32()
	if r.err != nil {
		return dst
	}
	if n == 0 {
		return append(dst, " EMPTY"...)
	}
	dst = append(dst, " ("...)
	for i := uint32(0); i < n && r.err == nil; i++ {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		switch t {
		case 2: // LINESTRING: points
			dst = appendCoord(dst, r.float(), r.float())
		case 3: // POLYGON: rings
			dst = r.points(dst)
		case 4: // MULTIPOINT: (x y) each
			r.header()
			dst = append(dst, '(')
			dst = appendCoord(dst, r.float(), r.float())
			dst = append(dst, ')')
		case 5: // MULTILINESTRING
			r.header()
			dst = r.points(dst)
		case 6: // MULTIPOLYGON
			r.header()
			rings := r.uint32()
			dst = append(dst, '(')
			for j := uint32(0); j < rings && r.err == nil; j++ {
				if j > 0 {
					dst = append(dst, ", "...)
				}
				dst = r.points(dst)
			}
			dst = append(dst, ')')
		case 7:
			dst = r.geometry(dst)
		}
	}
	return append(dst, ')')
}

// points writes a count of points in parentheses.
func (r *wkbReader) points(dst []byte) []byte {
	n := r.uint32()
	dst = append(dst, '(')
	for i := uint32(0); i < n && r.err == nil; i++ {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = appendCoord(dst, r.float(), r.float())
	}
	return append(dst, ')')
}

func appendCoord(dst []byte, x, y float64) []byte {
	dst = strconv.AppendFloat(dst, x, 'f', -1, 64)
	dst = append(dst, ' ')
	return strconv.AppendFloat(dst, y, 'f', -1, 64)
}
