package evaluate

import (
	"fmt"
	"slices"

	"medzoo/features"
)

// ProtocolDefaults are the metric options a protocol's reference uses when
// its user sets none: a number meant to be compared with one made by that
// reference needs them too.
type ProtocolDefaults struct {
	KIDSubsets, KIDSubsetSize, PRDCK int
}

// DefaultsFor is protocol p's defaults. clean-fid and torch-fidelity draw
// 100 KID subsets of 1000, as zoo does; torch-fidelity's precision/recall
// uses k = 3 neighbours (prc_neighborhood), clovaai's PRDC and zoo k = 5.
// pytorch-fid and clean-fid have no PRDC: zoo's k stays.
func DefaultsFor(p features.Protocol) ProtocolDefaults {
	d := ProtocolDefaults{KIDSubsets: 100, KIDSubsetSize: 1000, PRDCK: 5}
	if p == features.ProtocolTorchFidelity {
		d.PRDCK = 3
	}
	return d
}

// protocolName is the card's name of p ("zoo" when unset).
func protocolName(p features.Protocol) string {
	if p == "" {
		return string(features.ProtocolZoo)
	}
	return string(p)
}

// protocolNotes say, for a reference protocol, what of the card is that
// reference's and what is zoo's: the network is the extractor's whatever
// the protocol; reading, resize and quantization are the reference's; and
// for each metric asked, whether the reference has it and how its
// statistics differ from zoo's exact ones.
func protocolNotes(p features.Protocol, ex string, mets []string, prdcK int) []string {
	if !p.Reference() {
		return nil
	}
	notes := []string{fmt.Sprintf("protocol %s: files read, resized and quantized as %s does; the network is the extractor's (%s), fed by its spec", p, p, ex)}
	switch p {
	case features.ProtocolPytorchFID:
		notes = append(notes, "pytorch-fid's own Inception (pt_inception-2015-12-05 weights) maps [0,1] input by 2x-1, i.e. (v-127.5)/127.5 for 8-bit v; the TF graph, clean-fid's and torch-fidelity's networks and zoo's inception-v3 spec use (v-128)/128: a property of the network, not of the protocol")
	case features.ProtocolTorchFidelity:
		notes = append(notes, "torch-fidelity's own Inception is a port of the same TF 2015-12-05 graph (its input (v-128)/128, as zoo's inception-v3), not the same file")
	}
	has := func(m string) bool { return slices.Contains(mets, m) }
	if has(FID) {
		stats := "a float32 mean and float64 covariance (numpy, float32 features)"
		if p == features.ProtocolPytorchFID {
			stats = "a float64 mean and covariance (numpy, features stored as float64)"
		}
		notes = append(notes, fmt.Sprintf("FID: %s fits %s and takes the matrix square root with scipy or numpy; zoo sums exactly in float64: on the same features the references were measured 1.3e-5 from the exact FID, zoo within 1.2e-7 (zoo's math is the same for every protocol)", p, stats))
	}
	if has(KID) {
		switch p {
		case features.ProtocolCleanFID:
			notes = append(notes, "KID: clean-fid's estimator (cubic kernel, 100 subsets of up to 1000) drawn from numpy's global unseeded RNG, and it reports no std; zoo draws seeded subsets (--seed): same estimator, other subsets, so values agree within the std")
		case features.ProtocolTorchFidelity:
			notes = append(notes, "KID: torch-fidelity's estimator on torch-fidelity's own subsets: numpy RandomState(--seed) draws, fake set first (its input1), so KID equals torch-fidelity's with rng_seed = --seed (torch-fidelity's default is 2020); it refuses a subset larger than a set, zoo caps it with a warning")
		default:
			notes = append(notes, "KID: pytorch-fid has no KID; zoo's (the unbiased cubic-kernel MMD of Binkowski et al., torch-fidelity's estimator)")
		}
	}
	if has(PRDC) {
		if p == features.ProtocolTorchFidelity {
			notes = append(notes, fmt.Sprintf("PRDC: precision and recall are torch-fidelity's (Kynkäänniemi et al.), k=%d (torch-fidelity's default 3), except that torch-fidelity counts a point on a ball's boundary (<=, float32 torch.cdist) where zoo and clovaai do not (<): they differ only on exact ties; density and coverage are not in torch-fidelity: zoo's (Naeem et al., clovaai's code)", prdcK))
		} else {
			notes = append(notes, fmt.Sprintf("PRDC: %s has none; zoo's (Naeem et al., clovaai's code), k=%d", p, prdcK))
		}
	}
	if has(Ratio) || has(Memorization) {
		notes = append(notes, fmt.Sprintf("FID ratio and memorization are zoo's (medigan's ratio); %s has neither", p))
	}
	return notes
}
