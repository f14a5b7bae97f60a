// Package editdist measures how far apart two words are, for the "did you
// mean" suggestions of catalog keys, model ids, search terms and commands.
package editdist

// Distance is the Levenshtein distance between a and b, in runes: the
// insertions, deletions and substitutions that turn a into b.
func Distance(a, b string) int { return distance(a, b, false) }

// WithSwaps also counts a swap of two neighbouring runes as one edit
// (optimal string alignment), so "lsit" is one edit from "list": the
// commonest typo at a keyboard, where command names are typed.
func WithSwaps(a, b string) int { return distance(a, b, true) }

func distance(a, b string, swaps bool) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows of the table d[i][j], the distance between ra[:i] and
	// rb[:j]: the one before last (for swaps), the last, and this one.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if swaps && i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
