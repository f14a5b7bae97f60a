package features

import "medzoo/imagein"

// applyReference prepares img as p.Protocol's reference implementation
// does: read as PIL's convert("RGB") reads its file, resized with that
// reference's resizer on its value scale, then mapped onto the
// extractor's input by its spec like every protocol (the network is the
// extractor's, whatever the protocol).
func (p Prep) applyReference(img imagein.Image, u imagein.Units, dst []float32) error {
	rgb, err := p.referenceRGB(img, u, p.Loss)
	if err != nil {
		return err
	}
	h, w := img.Height, img.Width
	oh, ow := p.Spec.InputSize[0], p.Spec.InputSize[1]
	plane := h * w
	// A gray file's three RGB planes are equal: resized once.
	planes := 3
	if img.Channels == 1 {
		planes = 1
	}
	top := 255.0
	resized := make([][]float32, planes)
	for ch := range resized {
		x := rgb[ch*plane : (ch+1)*plane]
		switch p.Protocol {
		case ProtocolCleanFID:
			r := pilBicubic(x, h, w, oh, ow)
			for i, v := range r {
				r[i] = min(max(v, 0), 255) // np.clip: bicubic overshoots
			}
			resized[ch] = r
		case ProtocolPytorchFID:
			for i, v := range x {
				x[i] = v / 255 // ToTensor, in float32
			}
			resized[ch] = torchBilinear(x, h, w, oh, ow)
			top = 1
		case ProtocolTorchFidelity:
			resized[ch] = tf1Bilinear(x, h, w, oh, ow)
		}
	}
	p.toNetwork(resized, top, dst)
	return nil
}
