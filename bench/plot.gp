# bench/plot.gp: the plots of bench/run.sh, from the data files it writes
# into the run directory's data/ (gnuplot 5, Debian's gnuplot-nox).
#
#   gnuplot -e "kind='cdf'; out='F.png'; files='A.dat B.dat'; ttl='T'; xl='X'; logx=0" bench/plot.gp
#   gnuplot -e "kind='compare'; out='F.png'; data='D.dat'; ttl='T'" bench/plot.gp
#
# cdf      a distribution per file, as the empirical CDF (steps): a header
#          line of two quoted column names, the second the series' title,
#          then "value fraction" lines, the values sorted
# compare  one line per point: index, "label", QEMU kframes/s, ours, the
#          library alone, ours/QEMU; frames/s (log scale) above, the ratio
#          with the 5x goal below

if (!exists("logx")) logx = 0

if (kind eq 'cdf') {
	set terminal pngcairo size 1100,650 noenhanced font ",10"
	set output out
	set title ttl
	set xlabel xl
	set ylabel 'fraction of samples <= x'
	set yrange [0:1.02]
	set grid
	set key bottom right box opaque
	if (logx) { set logscale x }
	plot for [f in files] f using 1:2 with steps lw 2 title columnheader(2)
}

if (kind eq 'compare') {
	set terminal pngcairo size 1600,1000 noenhanced font ",9"
	set output out
	set multiplot layout 2,1 title ttl
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.85 border -1
	set boxwidth 0.9
	set xtics rotate by 60 right
	set grid y
	set key top right box opaque
	set logscale y
	set ylabel 'kframes/s (log scale)'
	plot data using 3:xtic(2) title "QEMU colo-compare", \
	     '' using 4 title 'ours (cmp_front)', \
	     '' using 5 title 'library alone'
	unset logscale y
	set yrange [0:*]
	set ylabel 'frames/s ours / QEMU'
	plot data using 6:xtic(2) title 'ours / QEMU' lc rgb '#2a7f2a', \
	     5 with lines dt 2 lw 2 lc rgb 'red' title 'goal 5x'
	unset multiplot
}
