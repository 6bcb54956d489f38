/*
 * vector_text_cases.h - peer-derived cases for test_vector_text.c
 * (generated; do not edit by hand).
 *
 * How they were made: scratch scripts (not kept) drew random number
 * strings (random doubles and floats at 1-21 digits, exact decimal
 * midpoints between adjacent doubles, long digit runs, exponents up to
 * +-99999, significands near 2^64, limits of float and double), random
 * garbage from an alphabet of brackets, commas, digits, signs, 'e', '.',
 * whitespace, letters, NUL and bytes >= 0x80, and random float and double
 * bit patterns (plus ties such as 1234565 and specials); each ran on the
 * peer, npm libsql@0.5.29 (SQLite 3.45.1), in node:
 *   hex(vector32(cast(unhex(?) as text))), hex(vector64(...)) and
 *   vector_extract(unhex(?)) (F64 with the 02 trailer appended),
 * and the peer's blob (trailer removed), message or text is the answer
 * here. The picks: 120 F64 strings where the peer's answer is
 * not the correctly rounded double (JS parseFloat), then a random sample
 * of the other numbers, of the garbage and of the extracted elements.
 * Parse answers: "OK:" and the data part in hex, or the error message.
 */
#ifndef VECTOR_TEXT_CASES_H
#define VECTOR_TEXT_CASES_H

#define T(s) s, sizeof s - 1

static const struct vt_parse_case {
    const char *text;
    size_t len;
    int type;
    const char *want;
} k_parse_cases[] = {
    { T("[253234164691909545729050331076088668272010406748137129657623088230071045793456178611983459967849236002609437730214015664128]"), LSQ_VEC_F64, "OK:0554F9F34D845859" }, /* not strtod */
    { T("[-2.8928665381187659288997338080662302672863006591796875]"), LSQ_VEC_F64, "OK:7D4D2736972407C0" }, /* not strtod */
    { T("[168136536819371524989981606744524837901162435120513280366627056772972544]"), LSQ_VEC_F64, "OK:735C3BE0875CB84E" }, /* not strtod */
    { T("[75.34715464253118710757917142473161220550537109375]"), LSQ_VEC_F64, "OK:DD141BC837D65240" }, /* not strtod */
    { T("[2763559484747319694914676132194764214206350566706970960455658373120]"), LSQ_VEC_F64, "OK:37C21B4AD73DBA4D" }, /* not strtod */
    { T("[8358177161259275206450171688373993216687509385593701490636094478242719265229100677742019442674499584]"), LSQ_VEC_F64, "OK:593E0D5B0E92AE54" }, /* not strtod */
    { T("[1.797693134862315769332e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[-60696109487177912794347317454915859240996229707372982733816982492586422280197000751742278873120768]"), LSQ_VEC_F64, "OK:83BE1FF77B6A3CD4" }, /* not strtod */
    { T("[354240106770695367113404579840]"), LSQ_VEC_F64, "OK:FD74AC3172E21146" }, /* not strtod */
    { T("[13683308004370752963870720]"), LSQ_VEC_F64, "OK:99BCFC391BA32645" }, /* not strtod */
    { T("[+1.7976931348623158076192e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[9227276568709366443671552]"), LSQ_VEC_F64, "OK:9DEA0EA9CE871E45" }, /* not strtod */
    { T("[1.797693134862315778e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[1.7976931348623158070162e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[1.79769313486231579965e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[330450660236331263298782343237749539400734698635264]"), LSQ_VEC_F64, "OK:3328CA0250436C4A" }, /* not strtod */
    { T("[1.7976931348623158e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[-0.000000048522068362425401361508867548351375820203656985540874302387237548828125]"), LSQ_VEC_F64, "OK:6B16FE81D20C6ABE" }, /* not strtod */
    { T("[114047759308579402805031281791069471907565427134139094521537097916912273444098973599909183355711189093820767069635644227584]"), LSQ_VEC_F64, "OK:574E25E640154659" }, /* not strtod */
    { T("[1.79769313486231577664e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[1.7976931348623158e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[12285986870811017169658538282098171649007792932869076325970133607318188237380216394715023457382316442770210816]"), LSQ_VEC_F64, "OK:E5E5112AE0EC9456" }, /* not strtod */
    { T("[5429213026854575462237500990454364941840471443883923189245622478390549844407650845795704533780599830067900578902315838203168458565947240930317305913540608]"), LSQ_VEC_F64, "OK:B539D9305CEAD95F" }, /* not strtod */
    { T("[+1929166030739736454872444032368444254891092532820900109921388855296]"), LSQ_VEC_F64, "OK:2B5BE1F78A51B24D" }, /* not strtod */
    { T("[157583269263763867338352878850333700268228608]"), LSQ_VEC_F64, "OK:CDCE936DDE431C49" }, /* not strtod */
    { T("[+1.7976931348623158e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[+18446744073709551619030.80176e20]"), LSQ_VEC_F64, "OK:F64AE1C7022DB548" }, /* not strtod */
    { T("[1.797693134862315807e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[-63479216948976552438345662146912534440282504449796885258673980360076966232174021240991442596725209956352]"), LSQ_VEC_F64, "OK:BF33682E98577CD5" }, /* not strtod */
    { T("[1.797693134862315807673e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[50682071162179053503479643056767794385408689939408413816835780073530327040]"), LSQ_VEC_F64, "OK:954437805EAF3C4F" }, /* not strtod */
    { T("[40569321085490165581703406212333174784]"), LSQ_VEC_F64, "OK:37F4B0F55D85BE47" }, /* not strtod */
    { T("[+64445470110014679927887573216044529602346612622675025632430814116832570400661621080037484348309504]"), LSQ_VEC_F64, "OK:1B6CE539D92B3E54" }, /* not strtod */
    { T("[76043883441376863882359168593756987009372729536508782110684377440499578665570597215885947122947049270073532397519709013506586428872568723747729537614479360]"), LSQ_VEC_F64, "OK:2B3CD309BBAF1660" }, /* not strtod */
    { T("[1.7976931348623158e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[1.79769313486231571e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[1.79769313486231571e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[952594241946416973083022335935522796571815766517415324894570693141103008848928263101433825525180672649807629719849624367428240385507328]"), LSQ_VEC_F64, "OK:AF53B1DA36F8F45B" }, /* not strtod */
    { T("[+237065281535544188887244043084031031227871963423389998646299615026157449872670720]"), LSQ_VEC_F64, "OK:6D5394C957FD9F50" }, /* not strtod */
    { T("[3595525653758859664162816]"), LSQ_VEC_F64, "OK:9DB2A4B00ECB0745" }, /* not strtod */
    { T("[0.000000295047277311012479457209898951741688932770557585172355175018310546875]"), LSQ_VEC_F64, "OK:3BE409A6DFCC933E" }, /* not strtod */
    { T("[480147397616355864064770301179572472421787890799453148859392702103095647259909198228556539241641307134915845745015140777042998180519080939040932848310681600]"), LSQ_VEC_F64, "OK:F31BBDCBCFE74160" }, /* not strtod */
    { T("[+1.7976931348623158e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[-1.797693134862315807e308]"), LSQ_VEC_F64, "OK:000000000000F0FF" }, /* not strtod */
    { T("[-30.6457294511052591445832149474881589412689208984375]"), LSQ_VEC_F64, "OK:A58F7A864EA53EC0" }, /* not strtod */
    { T("[1655574412218584570181327615393206556437107070259255575701869869386759714693924843096539501490908424317213248700718618115550740480]"), LSQ_VEC_F64, "OK:0DD2288C7B1BC35A" }, /* not strtod */
    { T("[343361067627230649600342805664162360409172317536967350491422587167535115948852305392955876680912936946110379365236736]"), LSQ_VEC_F64, "OK:33D95047B96D2158" }, /* not strtod */
    { T("[1427833833051981465289887492393685558837513197704008063411198260441319590217853632828574104227480059003909151844175517883016675328]"), LSQ_VEC_F64, "OK:F59AE1679C7AC05A" }, /* not strtod */
    { T("[1.79769313486231571e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[2621061382935584631985062898140974185572640314605300236849637428201517715355074560]"), LSQ_VEC_F64, "OK:DF14A762FB1AD650" }, /* not strtod */
    { T("[6592417978440547303424]"), LSQ_VEC_F64, "OK:793A74D802567644" }, /* not strtod */
    { T("[1.797693134862315807e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[556833463461574963717433732614656948486335878021961655506765348864]"), LSQ_VEC_F64, "OK:376C98425926954D" }, /* not strtod */
    { T("[-1.797693134862315807e308]"), LSQ_VEC_F64, "OK:000000000000F0FF" }, /* not strtod */
    { T("[+389946537042162307943510352006874676201150620996899027379581857045681085916769783999411279956007385431199973376]"), LSQ_VEC_F64, "OK:F5AC8E9634C1E456" }, /* not strtod */
    { T("[1.7976931348623158e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[0.000000000000000000000000000000173441381079570250842964218396423061286600117852968736678598003283718647397779744610303576113352619358920492231845855712890625]"), LSQ_VEC_F64, "OK:F905681D79248C39" }, /* not strtod */
    { T("[0.748370870638545515607376046318677254021167755126953125]"), LSQ_VEC_F64, "OK:BF7DD577A7F2E73F" }, /* not strtod */
    { T("[-1.7976931348623158e308]"), LSQ_VEC_F64, "OK:000000000000F0FF" }, /* not strtod */
    { T("[198295234715582288090300157002392796244477185583064560738172093333504]"), LSQ_VEC_F64, "OK:219A100EB46B1D4E" }, /* not strtod */
    { T("[0.00000000000000000000000000114965170995838872765143053699978251552823173806024903877737861036247037885456301342657070563291199505329132080078125]"), LSQ_VEC_F64, "OK:11D6913D6DC5563A" }, /* not strtod */
    { T("[-25752776072879345507242648715319477535808636726579185706608959070743457850358633948818759004653855945840191474991205955141632]"), LSQ_VEC_F64, "OK:19A61CE77F7AC3D9" }, /* not strtod */
    { T("[1.79769313486231580776923e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[-1.797693134862315773933e308]"), LSQ_VEC_F64, "OK:000000000000F0FF" }, /* not strtod */
    { T("[201540918676765129775232509865736516743694807269416374195672782246823325069739217723672745331098986021786305543247347690259005073038747364725948395028480]"), LSQ_VEC_F64, "OK:0D7ED354E4C88E5F" }, /* not strtod */
    { T("[1.7976931348623158e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[200902651947764589095883472953137197279701090154802175100021948864931342730877175260562927787800454531394563229940990293636069404885973864141838876672]"), LSQ_VEC_F64, "OK:E9AC62DF796CEF5E" }, /* not strtod */
    { T("[+76953622789834728706921358371818677591536482503251593406931503035247423644040468158303258207823932434438546534323400405286485430598372400562176]"), LSQ_VEC_F64, "OK:43C74CB10F3E995D" }, /* not strtod */
    { T("[2608040307564410707593011986701022647520156373131482499690878843648932330223146369024]"), LSQ_VEC_F64, "OK:D11B1D3BE57A7551" }, /* not strtod */
    { T("[844050278349621953980751959776331671450684104870971405869335453710682677124235946251504185215100233153303805952]"), LSQ_VEC_F64, "OK:F530D09F4A76F656" }, /* not strtod */
    { T("[0.00000000000027962492175862669687015189157816323495676751054173081456610816530883312225341796875]"), LSQ_VEC_F64, "OK:5B6E925746AD533D" }, /* not strtod */
    { T("[-7602853020863098145592037135395310905550809211654548889454092157249928763029480441643008]"), LSQ_VEC_F64, "OK:BD90778939932ED2" }, /* not strtod */
    { T("[197052559229326526095594986208848079287880138851747409533614560686296002330398479476827167551127552]"), LSQ_VEC_F64, "OK:7349557C3B105754" }, /* not strtod */
    { T("[1.797693134862315753820e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[3255986538428291355706870708467882078936918241237455855299977531007218826373356295974366927018038398862757943841449809036223542638163414818488320]"), LSQ_VEC_F64, "OK:BB4E6AB521B0F05D" }, /* not strtod */
    { T("[1226813259991963619460320370894416995736747953284296423458569570239236037470315169563090173704636666629586944]"), LSQ_VEC_F64, "OK:219786D145B76056" }, /* not strtod */
    { T("[1.797693134862315807e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[36998025927815130542596585312430577072290575888941952974516455574958347337159425258338493308559334102453513533521920]"), LSQ_VEC_F64, "OK:A587645B310CEE57" }, /* not strtod */
    { T("[+1.7976931348623158e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[210850503528835338552529326467377010177523496366252088796667958092553412230894357634351104]"), LSQ_VEC_F64, "OK:ED18ED2C887F7A52" }, /* not strtod */
    { T("[-0.00000000000000000000000000000020486212495761726541406296960268922628568286131432783315890420752272073384873520636613453138608065273729152977466583251953125]"), LSQ_VEC_F64, "OK:759517E3D19E90B9" }, /* not strtod */
    { T("[457230820644182859558507761444673844593255915517743392877837164499403834980765856280282990704066560]"), LSQ_VEC_F64, "OK:BB5CC006F1C16A54" }, /* not strtod */
    { T("[+1.79769313486231579e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[19126035532619792744640430818155560960]"), LSQ_VEC_F64, "OK:D37E83B614C7AC47" }, /* not strtod */
    { T("[16412210489065838056125686385072145237707303737932133847652668528235982412331352064]"), LSQ_VEC_F64, "OK:2191DDED544D0151" }, /* not strtod */
    { T("[223985235663272954255854895750166]"), LSQ_VEC_F64, "OK:D2A7E0A82E16A646" }, /* not strtod */
    { T("[6593733259610900377792245864930989814389734899712]"), LSQ_VEC_F64, "OK:3304B7E6E40B124A" }, /* not strtod */
    { T("[18446744073709551617221e20]"), LSQ_VEC_F64, "OK:F64AE1C7022DB548" }, /* not strtod */
    { T("[87430651605319088318199504262230323296602110081942173163124818263954987551701318998059295077069505013663924224]"), LSQ_VEC_F64, "OK:B12DBDA9229DC256" }, /* not strtod */
    { T("[1.797693134862315729662e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[293157847278357753097203379863552]"), LSQ_VEC_F64, "OK:EB745F2F58E8AC46" }, /* not strtod */
    { T("[838447623433459250748415256473034559586304]"), LSQ_VEC_F64, "OK:FD43F4C4F33FA348" }, /* not strtod */
    { T("[2818631261744929907433826481868964715679688465317888]"), LSQ_VEC_F64, "OK:9D624CD457229E4A" }, /* not strtod */
    { T("[270597126974091161487271642793757663180483750708032182705036500746512025905655122417819009709836784940615209058304]"), LSQ_VEC_F64, "OK:7F1B1BB832217C57" }, /* not strtod */
    { T("[-0.000000241441886163285938364061913689873062338620002265088260173797607421875]"), LSQ_VEC_F64, "OK:679F23A5F03390BE" }, /* not strtod */
    { T("[-0.000002543041036608546624501656606420763040432575508020818233489990234375]"), LSQ_VEC_F64, "OK:73DD46982355C5BE" }, /* not strtod */
    { T("[-1.797693134862315807e308]"), LSQ_VEC_F64, "OK:000000000000F0FF" }, /* not strtod */
    { T("[-156598716971445137448141817016601936156690750604326402777049443513237278772392000486770081634622731392529843397786401632882801674882646016]"), LSQ_VEC_F64, "OK:479A2D3575EE6ADC" }, /* not strtod */
    { T("[545077993024984579285595105872951921067935845059557921770253228343973349488242257448402944]"), LSQ_VEC_F64, "OK:7131D92418209152" }, /* not strtod */
    { T("[-0.00000000013806613907350239867065416822871867265354328679904938326217234134674072265625]"), LSQ_VEC_F64, "OK:A97D9739C5F9E2BD" }, /* not strtod */
    { T("[4277793647651.487060546875]"), LSQ_VEC_F64, "OK:E51B61F702208F42" }, /* not strtod */
    { T("[1.7976931348623157666e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[-1.79769313486231580682e308]"), LSQ_VEC_F64, "OK:000000000000F0FF" }, /* not strtod */
    { T("[+55470325358172940604618421832918380636555542175824468257005252683084111271074490378841327927296]"), LSQ_VEC_F64, "OK:EF16D3ACB9979A53" }, /* not strtod */
    { T("[1.79769313486231580714414e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[1306312198951194581736586553742978514532843306524940e-291]"), LSQ_VEC_F64, "OK:0C9762C8C76B210E" }, /* not strtod */
    { T("[+20442845208187715338936470143091020463908855993942448705493002201660887730065082526139167104050264417777571463619067665973248]"), LSQ_VEC_F64, "OK:DBB94601AEECBE59" }, /* not strtod */
    { T("[-1.797693134862315807e308]"), LSQ_VEC_F64, "OK:000000000000F0FF" }, /* not strtod */
    { T("[1.7976931348623158e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[1.797693134862315807302e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[0.00000000165239731865621692437989966769349738096028801237480365671217441558837890625]"), LSQ_VEC_F64, "OK:2B57B5FC51631C3E" }, /* not strtod */
    { T("[-4133310381798079760160002146304]"), LSQ_VEC_F64, "OK:278F531BB9154AC6" }, /* not strtod */
    { T("[-79392212400763017167074763975227587126527279376850601397365129977421191696168608636649136732504064]"), LSQ_VEC_F64, "OK:45AADF589D9542D4" }, /* not strtod */
    { T("[-0.0000000000000010157080164402308035924430153722062981781800307216900858264807538944296538829803466796875]"), LSQ_VEC_F64, "OK:EBE7905F204CD2BC" }, /* not strtod */
    { T("[1.797693134862315757e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[1.7976931348623158078949e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[1.797693134862315807e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[+1199004362629583500682806245301325987581381311050824719074087317003445079307032515725163105212584604085373023297732608]"), LSQ_VEC_F64, "OK:E93968AA166E3E58" }, /* not strtod */
    { T("[1.7976931348623158e308]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* not strtod */
    { T("[0.000000000000000000000003136776467348905577527419239058551058485956208614961504616054456854278009725334186441614292562007904052734375]"), LSQ_VEC_F64, "OK:CBBB2A4948560E3B" }, /* not strtod */
    { T("[-5.4125083e-58]"), LSQ_VEC_F32, "OK:00000080" }, /* number */
    { T("[3.071296e+7]"), LSQ_VEC_F64, "OK:00000000484A7D41" }, /* number */
    { T("[5.1111212861136268536e-71]"), LSQ_VEC_F64, "OK:42A2B88790935631" }, /* number */
    { T("[-1.9030638151251714e+170]"), LSQ_VEC_F32, "OK:000080FF" }, /* number */
    { T("[4.862155680717e+59]"), LSQ_VEC_F32, "OK:0000807F" }, /* number */
    { T("[-1.44445120729e+20]"), LSQ_VEC_F64, "OK:D5F9FF9F50521FC4" }, /* number */
    { T("[999999999999999999940e8]"), LSQ_VEC_F64, "OK:21D7E6FAE031F445" }, /* number */
    { T("[626310184648860320.36134075983817498e21]"), LSQ_VEC_F64, "OK:C2133643EF72FD47" }, /* number */
    { T("[90870320592385312829033128896497428943636e-185]"), LSQ_VEC_F32, "OK:00000000" }, /* number */
    { T("[31450552e-50]"), LSQ_VEC_F32, "OK:E0000000" }, /* number */
    { T("[-239372679640489498170890988408532051667248678502e-231]"), LSQ_VEC_F32, "OK:00000080" }, /* number */
    { T("[-2.429679901262747e-68]"), LSQ_VEC_F64, "OK:0471EE4B17F6E4B1" }, /* number */
    { T("[49356936202173.2790014289941256]"), LSQ_VEC_F64, "OK:A4DE2353E771C642" }, /* number */
    { T("[-1.141696805e-22]"), LSQ_VEC_F64, "OK:660207C0B94061BB" }, /* number */
    { T("[+717473012954904971520929353295367e-213]"), LSQ_VEC_F64, "OK:DF09E71C3CD1871A" }, /* number */
    { T("[05864687565369947631593441.6e10]"), LSQ_VEC_F32, "OK:3AB83479" }, /* number */
    { T("[-1.426004516110704e-35]"), LSQ_VEC_F64, "OK:8F4AA82171F4B2B8" }, /* number */
    { T("[+1844674407370955162]"), LSQ_VEC_F64, "OK:9A9999999999B943" }, /* number */
    { T("[1290965966648475510836793495111744471291108053e-267]"), LSQ_VEC_F64, "OK:F109F17499DDDD11" }, /* number */
    { T("[137529935192957e65]"), LSQ_VEC_F64, "OK:F356BC9E7BB15D50" }, /* number */
    { T("[72551e-56]"), LSQ_VEC_F64, "OK:BB611F055D5F5135" }, /* number */
    { T("[+6.07295255700e+255]"), LSQ_VEC_F32, "OK:0000807F" }, /* number */
    { T("[5.87851231135e+209]"), LSQ_VEC_F64, "OK:58DF41E7089C7C6B" }, /* number */
    { T("[6e-90]"), LSQ_VEC_F64, "OK:A795E546C671682D" }, /* number */
    { T("[3.4028235e38]"), LSQ_VEC_F32, "OK:FFFF7F7F" }, /* number */
    { T("[629951.313]"), LSQ_VEC_F64, "OK:378941A07E392341" }, /* number */
    { T("[-2.3284892139194609381e-193]"), LSQ_VEC_F64, "OK:2257BA8B6CFFF097" }, /* number */
    { T("[24905128760130896e-233]"), LSQ_VEC_F64, "OK:B610373198FAF512" }, /* number */
    { T("[00000000000000000002110048719223165183940e197]"), LSQ_VEC_F32, "OK:0000807F" }, /* number */
    { T("[3.9884484180295337e+239]"), LSQ_VEC_F32, "OK:0000807F" }, /* number */
    { T("[6201379e-233]"), LSQ_VEC_F64, "OK:C66CC27E5881F710" }, /* number */
    { T("[1.590034469311e+205]"), LSQ_VEC_F32, "OK:0000807F" }, /* number */
    { T("[-1.813097390009e-92]"), LSQ_VEC_F64, "OK:43946ECEF0E8E2AC" }, /* number */
    { T("[0.00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000081900]"), LSQ_VEC_F32, "OK:00000000" }, /* number */
    { T("[9.494693991542335162e+74]"), LSQ_VEC_F64, "OK:1B8FD18A0BCB804F" }, /* number */
    { T("[1.83207177429e-7]"), LSQ_VEC_F64, "OK:AE1B0060F396883E" }, /* number */
    { T("[-999999999999999999920716e-21]"), LSQ_VEC_F64, "OK:0000000000408FC0" }, /* number */
    { T("[+000000000000000000000499377493717037116279882.82435004e3]"), LSQ_VEC_F64, "OK:10DADCC234D17945" }, /* number */
    { T("[82127274]"), LSQ_VEC_F32, "OK:35A59C4C" }, /* number */
    { T("[1e-136]"), LSQ_VEC_F32, "OK:00000000" }, /* number */
    { T("[-5.426170815e-17]"), LSQ_VEC_F64, "OK:41CEFD5F9D478FBC" }, /* number */
    { T("[1.62867e-34]"), LSQ_VEC_F32, "OK:C57C5807" }, /* number */
    { T("[1615.2394538673383317178077299]"), LSQ_VEC_F32, "OK:AAE7C944" }, /* number */
    { T("[3.4028235e38]"), LSQ_VEC_F64, "OK:F8AF4DE5FFFFEF47" }, /* number */
    { T("[3.04870330e-11]"), LSQ_VEC_F64, "OK:A0ABA81FABC2C03D" }, /* number */
    { T("[903238595486137.893974315e-234]"), LSQ_VEC_F32, "OK:00000000" }, /* number */
    { T("[21113318e272]"), LSQ_VEC_F64, "OK:4ABA5784BAC6ED79" }, /* number */
    { T("[51677191.56055188366117150713536185046E15]"), LSQ_VEC_F32, "OK:D2162F65" }, /* number */
    { T("[-1.59231346e+136]"), LSQ_VEC_F32, "OK:000080FF" }, /* number */
    { T("[2.28e+193]"), LSQ_VEC_F32, "OK:0000807F" }, /* number */
    { T("[3.33150915958e+284]"), LSQ_VEC_F32, "OK:0000807F" }, /* number */
    { T("[-061041678461750555511595636466.]"), LSQ_VEC_F32, "OK:7E3C45EF" }, /* number */
    { T("[1844674407370955160.02e-29]"), LSQ_VEC_F32, "OK:6042A22D" }, /* number */
    { T("[1.57420530310e-28]"), LSQ_VEC_F64, "OK:1AACFF3FBCF1283A" }, /* number */
    { T("[1.955633200067224e-260]"), LSQ_VEC_F64, "OK:773A68D4713E030A" }, /* number */
    { T("[1.176108897652e-178]"), LSQ_VEC_F32, "OK:00000000" }, /* number */
    { T("[-2.2271996136901117e-84]"), LSQ_VEC_F64, "OK:8D08556F8D4E91AE" }, /* number */
    { T("[843711404609386060104]"), LSQ_VEC_F64, "OK:2AA828866CDE4644" }, /* number */
    { T("[-3.470334148e+35]"), LSQ_VEC_F32, "OK:23AC85FA" }, /* number */
    { T("[+3.253337352e-304]"), LSQ_VEC_F64, "OK:2B661DB6A08EEC00" }, /* number */
    { T("[-1e400]"), LSQ_VEC_F64, "OK:000000000000F0FF" }, /* number */
    { T("[-9.597213373340566e-257]"), LSQ_VEC_F64, "OK:74452E0A700EC78A" }, /* number */
    { T("[.405215e+43488]"), LSQ_VEC_F32, "OK:0000807F" }, /* number */
    { T("[-2.8844711154e-193]"), LSQ_VEC_F32, "OK:00000080" }, /* number */
    { T("[+56601946922006651e-179]"), LSQ_VEC_F64, "OK:73E5B11A244C401E" }, /* number */
    { T("[+5.3e+258]"), LSQ_VEC_F64, "OK:F5D0EE48AC0FA675" }, /* number */
    { T("[5622977075815155187640627542473197702752253782127718717846454272]"), LSQ_VEC_F64, "OK:4F10F4DB5F562B4D" }, /* number */
    { T("[-000000000000000828698374031894855.020e285]"), LSQ_VEC_F32, "OK:000080FF" }, /* number */
    { T("[1625952416625076010672907270.297154775509698940862119142732]"), LSQ_VEC_F64, "OK:8E1A7E44D3039545" }, /* number */
    { T("[+.06744e-98890]"), LSQ_VEC_F32, "OK:00000000" }, /* number */
    { T("[-1.920438570e+92]"), LSQ_VEC_F32, "OK:000080FF" }, /* number */
    { T("[-184467440737095516163048e16]"), LSQ_VEC_F64, "OK:408CB5781DAF15C8" }, /* number */
    { T("[1.37906e-21]"), LSQ_VEC_F32, "OK:CD65D01C" }, /* number */
    { T("[-1.0259115e+29]"), LSQ_VEC_F32, "OK:B5BEA5EF" }, /* number */
    { T("[+298972281610246525899307e-173]"), LSQ_VEC_F32, "OK:00000000" }, /* number */
    { T("[52244560102144405.e+62265]"), LSQ_VEC_F64, "OK:000000000000F07F" }, /* number */
    { T("[-18446744073709551616e18]"), LSQ_VEC_F64, "OK:00C84E676DC1ABC7" }, /* number */
    { T("[-791156383558694.94439007e145]"), LSQ_VEC_F32, "OK:000080FF" }, /* number */
    { T("[-38235797e-280]"), LSQ_VEC_F32, "OK:00000080" }, /* number */
    { T("[8375403439864238445614507e22]"), LSQ_VEC_F32, "OK:0000807F" }, /* number */
    { T("[34894446432636040.32e265]"), LSQ_VEC_F32, "OK:0000807F" }, /* number */
    { T("[184467440737095516097.0576]"), LSQ_VEC_F64, "OK:0000000000002444" }, /* number */
    { T("[+113085209641551184260749946337149373843422910087168]"), LSQ_VEC_F64, "OK:9A7F7C0B1158534A" }, /* number */
    { T("[-464474055612073594058299]"), LSQ_VEC_F64, "OK:958AB418CC96D8C4" }, /* number */
    { T("[-7.603614901319399e-161]"), LSQ_VEC_F32, "OK:00000080" }, /* number */
    { T("[+50799107450955773890631571949e+32]"), LSQ_VEC_F64, "OK:E246CF36364A894C" }, /* number */
    { T("[-6.6079730867e-74]"), LSQ_VEC_F64, "OK:1EF8799582E3BDB0" }, /* number */
    { T("[274605e-168]"), LSQ_VEC_F64, "OK:330B41E779A02F1E" }, /* number */
    { T("[-4.68706e-221]"), LSQ_VEC_F64, "OK:57FD203D47F13092" }, /* number */
    { T("[738123263777177871062.2]"), LSQ_VEC_F64, "OK:5291D44EC2014444" }, /* number */
    { T("[-2.47032822920623283885e-324]"), LSQ_VEC_F64, "OK:0100000000000080" }, /* number */
    { T("[14.784203529]"), LSQ_VEC_F64, "OK:F2ECFC1F83912D40" }, /* number */
    { T("[-7.70958724053996e-251]"), LSQ_VEC_F64, "OK:40BD781EDDA9018C" }, /* number */
    { T("[02.1525331132]"), LSQ_VEC_F64, "OK:2F02E64763380140" }, /* number */
    { T("[650614864423800e264]"), LSQ_VEC_F32, "OK:0000807F" }, /* number */
    { T("[148229179164.]"), LSQ_VEC_F32, "OK:970C0A52" }, /* number */
    { T("[-5.066660540129603e+281]"), LSQ_VEC_F32, "OK:000080FF" }, /* number */
    { T("[+56509416294755632e+94798]"), LSQ_VEC_F32, "OK:0000807F" }, /* number */
    { T("[-1844674407370955161605173.65240]"), LSQ_VEC_F64, "OK:00000000006AF8C4" }, /* number */
    { T("[1.745470558e+137]"), LSQ_VEC_F32, "OK:0000807F" }, /* number */
    { T("847893an\000[,+\000645]"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("   171.89   977.60.\200 xx996.74],300"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("  659 [,]"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("[ 5\011   i]"), LSQ_VEC_F32, "vector: invalid float at position 0: '5i'" }, /* garbage */
    { T("[851854e16] \012967.21\013589.245001"), LSQ_VEC_F32, "vector: non-space symbols after closing ']' are forbidden" }, /* garbage */
    { T("596\011]"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("[   29547   E7\0138707+2,.,f\351  613. 126, \000Ex   5659 479.80e6 249.3449353.64e3276e-2   ],]"), LSQ_VEC_F64, "vector: invalid float at position 0: '29547E78707+2'" }, /* garbage */
    { T("[292  402.90.38"), LSQ_VEC_F64, "vector: must end with ']'" }, /* garbage */
    { T(" 245883e-22]"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T(" n\000\013368.29E,573   ]\2001"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("[,\013\000989ee792.79511.26488].E"), LSQ_VEC_F32, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[]"), LSQ_VEC_F32, "OK:" }, /* garbage */
    { T("[]\200,\014   5443.94e-11    ]  "), LSQ_VEC_F32, "vector: non-space symbols after closing ']' are forbidden" }, /* garbage */
    { T("[\000]"), LSQ_VEC_F64, "vector: must end with ']'" }, /* garbage */
    { T("\377\011230,5e791254.7]"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("[  585.8e172685  6192,2+e]+x"), LSQ_VEC_F64, "vector: invalid float at position 1: '2+e'" }, /* garbage */
    { T("784.49,699.81,\200]"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T(" \011[387.65["), LSQ_VEC_F32, "vector: must end with ']'" }, /* garbage */
    { T(" \011[]"), LSQ_VEC_F32, "OK:" }, /* garbage */
    { T("[e[351.83e8,485e-19\012,596 50]838i\014i905.41402.65e-26\011,in\20043],\351.\014,350e167.70,+i7822\015250.49 \011115.0e-28-"), LSQ_VEC_F32, "vector: invalid float at position 0: 'e[351.83e8'" }, /* garbage */
    { T("[x10   960]"), LSQ_VEC_F32, "vector: invalid float at position 0: 'x10960'" }, /* garbage */
    { T("[0   \013x"), LSQ_VEC_F32, "vector: must end with ']'" }, /* garbage */
    { T("103\011\200330e-11\011+]"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("E70.16,\351990e-49-984428.61]"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T(" \011[\013\015]"), LSQ_VEC_F32, "OK:" }, /* garbage */
    { T("\014n+ ,e\015\011"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("[\014872   \0111\015848.53,   i[]"), LSQ_VEC_F32, "vector: invalid float at position 1: 'i['" }, /* garbage */
    { T("[,\014194], "), LSQ_VEC_F32, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[]"), LSQ_VEC_F64, "OK:" }, /* garbage */
    { T("[980857851.40e5 ,970,\000151\200]"), LSQ_VEC_F64, "vector: must end with ']'" }, /* garbage */
    { T("aE   ,5407[0\014]]"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("[2n,\011832 863"), LSQ_VEC_F64, "vector: invalid float at position 0: '2n'" }, /* garbage */
    { T("1  \000107,aa+767"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("[]"), LSQ_VEC_F32, "OK:" }, /* garbage */
    { T("[\011.831e4261\01199344xx\351a"), LSQ_VEC_F64, "vector: must end with ']'" }, /* garbage */
    { T(" \011[]"), LSQ_VEC_F64, "OK:" }, /* garbage */
    { T("[  ]"), LSQ_VEC_F64, "OK:" }, /* garbage */
    { T("[\015 702.82275869e-36\00018\013] f]"), LSQ_VEC_F32, "vector: must end with ']'" }, /* garbage */
    { T("[,"), LSQ_VEC_F32, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[f423.91a10]"), LSQ_VEC_F64, "vector: invalid float at position 0: 'f423.91a10'" }, /* garbage */
    { T(""), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("[,531.90, 9467]"), LSQ_VEC_F32, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[996.27e-35379,]"), LSQ_VEC_F64, "vector: invalid float at position 1: ''" }, /* garbage */
    { T("[,277 x0.3401"), LSQ_VEC_F32, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[348.0]"), LSQ_VEC_F64, "OK:0000000000C07540" }, /* garbage */
    { T("   80.46 9x\011\000   ,],"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("[\013 \200410\000774,\015391"), LSQ_VEC_F32, "vector: must end with ']'" }, /* garbage */
    { T("315,  636,,\0120n]"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("[510.80795e-45\014 ]317622.65e4"), LSQ_VEC_F32, "vector: non-space symbols after closing ']' are forbidden" }, /* garbage */
    { T("[e ,[e902.98"), LSQ_VEC_F32, "vector: invalid float at position 0: 'e'" }, /* garbage */
    { T("246.70a"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("[a]]147"), LSQ_VEC_F32, "vector: invalid float at position 0: 'a'" }, /* garbage */
    { T("[i"), LSQ_VEC_F64, "vector: must end with ']'" }, /* garbage */
    { T("335\013]169]582\011348e35\014   ,423970618.60\013,    ],61.92,  \012436.21,],7\351   186[\015+[   226E[204\01310e215912606e33,   \0129"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("+2799,2938.68829 220.62[]"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("]"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("[,[527,   5x , 447\351282[f\011\011   ,\015   \351585.7.,    ]"), LSQ_VEC_F64, "vector: invalid float at position 0: ''" }, /* garbage */
    { T(" \011[\015\012]"), LSQ_VEC_F32, "OK:" }, /* garbage */
    { T("[9933.849"), LSQ_VEC_F64, "vector: must end with ']'" }, /* garbage */
    { T("[,\014  \351\200]480352e-38254,,]"), LSQ_VEC_F64, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[  a,0   435871.96e-42\012],438e-29375\0129e40672.61200\0008551\011930,387.82\015\011+544e11\014,\2007263.82232]5,514143.93\351521,751-10.72827f452.75  375.75  104.28e-40     ,]"), LSQ_VEC_F64, "vector: invalid float at position 0: 'a'" }, /* garbage */
    { T("9"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("987 ,792901.81630482, i]"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T(" \011[,909e-6469e39848.59\351  297+e\014,"), LSQ_VEC_F64, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("   ,9 \000343,E177]"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("a    e,]]  ."), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("[][2[f830\200 5\37701"), LSQ_VEC_F32, "vector: non-space symbols after closing ']' are forbidden" }, /* garbage */
    { T("[976.96,1   527x]847.12866.345e]"), LSQ_VEC_F64, "vector: invalid float at position 1: '1527x'" }, /* garbage */
    { T("\013 ]"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("]"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("[,6855a.7f1883.48e-3147   40]762.28,"), LSQ_VEC_F32, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[\014,,789   5,\013104.60f]"), LSQ_VEC_F64, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[  882   -\011e,]618e-30651"), LSQ_VEC_F64, "vector: invalid float at position 0: '882-e'" }, /* garbage */
    { T("714.50,\377   633x  ,947.59e16\014E\000684.41309.29,,986\377500\377x \377962   358738[148564.83e5\200251.36\014  980"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("470.39,981.59x428] 271.99\014+  877.[    i1969e-13578.1541e2907.35,,f,,[\014n      \351\351\013  -\0000\012[]"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("[E\000754  -]3929\200"), LSQ_VEC_F32, "vector: must end with ']'" }, /* garbage */
    { T("+]"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("[],   "), LSQ_VEC_F64, "vector: non-space symbols after closing ']' are forbidden" }, /* garbage */
    { T("[540239.16e-17\012"), LSQ_VEC_F64, "vector: must end with ']'" }, /* garbage */
    { T("f   4052E\000364"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("43e10 .\011484.5792]x\013"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("[,,544e-200],4512  x[220.33"), LSQ_VEC_F64, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[506,\012 232.n,\014711e-45581\013,311e-39179.84\015 561e8915.18513\011[   [\012\014150.19,15\351a,,\351x+7   480e-39]"), LSQ_VEC_F32, "vector: invalid float at position 1: '232.n'" }, /* garbage */
    { T("[x]"), LSQ_VEC_F64, "vector: invalid float at position 0: 'x'" }, /* garbage */
    { T("[,5465.47[0\351,]\013i,"), LSQ_VEC_F64, "vector: invalid float at position 0: ''" }, /* garbage */
    { T(" \011[2E\012]"), LSQ_VEC_F32, "vector: invalid float at position 0: '2E'" }, /* garbage */
    { T("[,657,f ,e["), LSQ_VEC_F32, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[764369559.64,+\011+,771.98  \000]"), LSQ_VEC_F32, "vector: invalid float at position 1: '++'" }, /* garbage */
    { T("[,335e18"), LSQ_VEC_F64, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[[,\011i,637.615][410]"), LSQ_VEC_F64, "vector: invalid float at position 0: '['" }, /* garbage */
    { T("[217      ,+0260.130342,"), LSQ_VEC_F32, "vector: must end with ']'" }, /* garbage */
    { T("[734\0111\015 .544816.37,\012163.55\014120796487790+  \000976.82\012\351,218,E254,159\00033]Ee[,469635340e-40240.740223986e01121f\013718[[113.8,,982e27"), LSQ_VEC_F64, "vector: invalid float at position 0: '7341.544816.37'" }, /* garbage */
    { T("[\000\200,181,]"), LSQ_VEC_F32, "vector: must end with ']'" }, /* garbage */
    { T("]"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("]"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("[513.12e-35290.16"), LSQ_VEC_F32, "vector: must end with ']'" }, /* garbage */
    { T(",+,815\200,,e\0131968655]\014,a32201,300.82[853.45n585512   372140901    53e43,    \351  941e-26i765e-15,],   821.24852"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("[459.32982f665978940e162,\012\000502976e\200389243\015f711e-9,,\011-500\000   ]   \200   344 792  a,229]i584.33e-29]"), LSQ_VEC_F64, "vector: invalid float at position 0: '459.32982f665978940e162'" }, /* garbage */
    { T("\015898.52]"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T("     \012111.2532\200440.46,,1797.80985.55,952.68,,7\000364619934ia0.745.63680e11x]"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T(" \011[,,  465.65"), LSQ_VEC_F32, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[,+0   ]86"), LSQ_VEC_F64, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("["), LSQ_VEC_F64, "vector: must end with ']'" }, /* garbage */
    { T(",\000754.52341666.363   "), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("524.11 ]\0007"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T("[e780]"), LSQ_VEC_F64, "vector: invalid float at position 0: 'e780'" }, /* garbage */
    { T("575.31"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
    { T(" \011[505.74e49[674.98]"), LSQ_VEC_F32, "vector: invalid float at position 0: '505.74e49[674.98'" }, /* garbage */
    { T("[]66.43f"), LSQ_VEC_F64, "vector: non-space symbols after closing ']' are forbidden" }, /* garbage */
    { T(" x,363.37 \013716\000166\200115"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T(",933,n0,756.90e0\351a,]"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T(" \011[]"), LSQ_VEC_F32, "OK:" }, /* garbage */
    { T("522   \200854x,a,"), LSQ_VEC_F32, "vector: must start with '['" }, /* garbage */
    { T(" \011[.,,1 696e-35  \000"), LSQ_VEC_F64, "vector: invalid float at position 0: '.'" }, /* garbage */
    { T("[,554, ,],\015,,,5]"), LSQ_VEC_F64, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[e+   e]"), LSQ_VEC_F64, "vector: invalid float at position 0: 'e+e'" }, /* garbage */
    { T("[a,a]"), LSQ_VEC_F32, "vector: invalid float at position 0: 'a'" }, /* garbage */
    { T("[,[707e30755e509  2"), LSQ_VEC_F64, "vector: invalid float at position 0: ''" }, /* garbage */
    { T("[]"), LSQ_VEC_F32, "OK:" }, /* garbage */
    { T("   39,696860\011]"), LSQ_VEC_F64, "vector: must start with '['" }, /* garbage */
};

static const struct vt_extract_case {
    int type;
    const char *data_hex; /* the data part, no trailer */
    const char *want;
} k_extract_cases[] = {
    { LSQ_VEC_F64, "003D9160E458F1FF", "[NaN]" },
    { LSQ_VEC_F32, "1818A6F7", "[-6.73758e+33]" },
    { LSQ_VEC_F32, "3E560ACC", "[-3.62642e+07]" },
    { LSQ_VEC_F64, "A253D6B69393E7E8", "[-2.20296e+197]" },
    { LSQ_VEC_F64, "0000D85D71BD5D42", "[5.1093e+11]" },
    { LSQ_VEC_F32, "5BDCDE24", "[9.66504e-17]" },
    { LSQ_VEC_F64, "1397950A28CE82B6", "[-4.11747e-46]" },
    { LSQ_VEC_F64, "EB44B79B369C3F3F", "[0.000482334]" },
    { LSQ_VEC_F32, "7C3B78ADAB7D5062ED3F044E", "[-1.41104e-11,9.61495e+20,5.54695e+08]" },
    { LSQ_VEC_F32, "6C1144DB", "[-5.51883e+16]" },
    { LSQ_VEC_F64, "000000007F842EC1", "[-1e+06]" },
    { LSQ_VEC_F32, "81683E7C", "[3.95462e+36]" },
    { LSQ_VEC_F32, "9726E3D8344336EC90B675CB0000807F", "[-1.99804e+15,-8.81367e+26,-1.61031e+07,Inf]" },
    { LSQ_VEC_F64, "2D431CEBE2361ABF", "[-0.0001]" },
    { LSQ_VEC_F32, "FB2BC801", "[7.35315e-38]" },
    { LSQ_VEC_F64, "", "[]" },
    { LSQ_VEC_F32, "41AB9FA5", "[-2.76981e-16]" },
    { LSQ_VEC_F32, "B126BFDE", "[-6.88695e+18]" },
    { LSQ_VEC_F32, "D2C28A70", "[3.43556e+29]" },
    { LSQ_VEC_F32, "CA926452", "[2.45429e+11]" },
    { LSQ_VEC_F64, "259B20D8B3E9F647", "[4.87303e+38]" },
    { LSQ_VEC_F32, "F32FC042509680B5E5850A5F", "[96.0937,-9.58049e-07,9.98164e+18]" },
    { LSQ_VEC_F32, "A0003A51", "[4.99297e+10]" },
    { LSQ_VEC_F64, "C724B6D614E6C89B", "[-7.86485e-175]" },
    { LSQ_VEC_F64, "FAFBEE0194CC0B4B", "[3.32828e+53]" },
    { LSQ_VEC_F64, "835C9EF08401CA5A", "[2.25331e+129]" },
    { LSQ_VEC_F32, "66DE4E0F", "[1.01994e-29]" },
    { LSQ_VEC_F64, "964C3DFFB3325EF7", "[-9.73722e+266]" },
    { LSQ_VEC_F32, "01BA4315", "[3.95267e-26]" },
    { LSQ_VEC_F64, "AF5DD97FB964FED9", "[-3.21468e+125]" },
    { LSQ_VEC_F32, "46ADBFFC", "[-7.96194e+36]" },
    { LSQ_VEC_F64, "0000000000000000", "[0]" },
    { LSQ_VEC_F32, "97178A2C", "[3.92481e-12]" },
    { LSQ_VEC_F32, "0E27057D", "[1.10619e+37]" },
    { LSQ_VEC_F32, "17B948BA", "[-0.000765698]" },
    { LSQ_VEC_F32, "E376A23C", "[0.0198321]" },
    { LSQ_VEC_F64, "265B467D34D11550", "[6.31565e+77]" },
    { LSQ_VEC_F64, "286F631BFFB6CA5C", "[9.9417e+138]" },
    { LSQ_VEC_F64, "0000C035925B02C2", "[-9.85572e+09]" },
    { LSQ_VEC_F32, "3A853FDE", "[-3.45013e+18]" },
    { LSQ_VEC_F64, "131E22EF0324E530", "[3.73913e-73]" },
    { LSQ_VEC_F32, "39D15B0A", "[1.05838e-32]" },
    { LSQ_VEC_F64, "0000A0FC922D01C2", "[-9.22238e+09]" },
    { LSQ_VEC_F32, "F889FE68", "[9.61621e+24]" },
    { LSQ_VEC_F32, "271B18D0", "[-1.02077e+10]" },
    { LSQ_VEC_F64, "AC5CE575753E06F7", "[-2.2414e+265]" },
    { LSQ_VEC_F64, "A9CBF766E958647F", "[4.46511e+305]" },
    { LSQ_VEC_F64, "2D431CEBE2361ABF", "[-0.0001]" },
    { LSQ_VEC_F32, "0000C07F", "[NaN]" },
    { LSQ_VEC_F64, "0100000000000080", "[-4.94066e-324]" },
    { LSQ_VEC_F64, "2A016F76EF4B0B5F", "[6.98066e+149]" },
    { LSQ_VEC_F32, "5610914C", "[7.60552e+07]" },
    { LSQ_VEC_F64, "FB4119E581240000", "[1.98319e-310]" },
    { LSQ_VEC_F32, "3462D841", "[27.048]" },
    { LSQ_VEC_F64, "51C02AB4615E3268", "[8.3806e+193]" },
    { LSQ_VEC_F64, "0000C0C768E0004274BB0EF0443065CB", "[9.06056e+09,-1.62357e+55]" },
    { LSQ_VEC_F64, "C9B230D85D4A5703", "[1.45869e-292]" },
    { LSQ_VEC_F64, "EDD0C7B300D49072", "[7.18146e+243]" },
    { LSQ_VEC_F32, "E36129C4", "[-677.529]" },
    { LSQ_VEC_F64, "797AA52C81AAF740", "[96936.1]" },
    { LSQ_VEC_F32, "FCD1112B", "[5.18058e-13]" },
    { LSQ_VEC_F32, "B21DBCC0", "[-5.87862]" },
    { LSQ_VEC_F32, "0000C0FF", "[NaN]" },
    { LSQ_VEC_F64, "3C70CE883F97F3C0FBCEF73A8F2231A65CBEFD551F705FBD", "[-80244,-1.01253e-124,-4.46761e-13]" },
    { LSQ_VEC_F64, "2F439638241115BB", "[-4.35654e-24]" },
    { LSQ_VEC_F64, "CDCCCCE83FB589C1", "[-5.39136e+07]" },
    { LSQ_VEC_F32, "A61BF113", "[6.08642e-27]" },
    { LSQ_VEC_F64, "727E8BDCD09DE9DB", "[-5.81845e+134]" },
    { LSQ_VEC_F32, "A631244E9008E1C8", "[6.88679e+08,-460869]" },
    { LSQ_VEC_F32, "1B4E4C9F", "[-4.32633e-20]" },
    { LSQ_VEC_F32, "CF5F28BF", "[-0.657712]" },
    { LSQ_VEC_F64, "CC541F846F925ABE", "[-2.47471e-08]" },
    { LSQ_VEC_F64, "62EDEE4793935C7500A4BEB978AA2543", "[2.14538e+257,3.04921e+15]" },
    { LSQ_VEC_F64, "C646E7646519B5CE", "[-1.45621e+71]" },
    { LSQ_VEC_F64, "C07CD78D9D8A82C3", "[-1.67007e+17]" },
    { LSQ_VEC_F64, "668D1AD81D3E77BF", "[-0.00567447]" },
    { LSQ_VEC_F64, "0000000000000080", "[0]" },
    { LSQ_VEC_F32, "144A8E85", "[-1.33808e-35]" },
    { LSQ_VEC_F64, "B2A17938ECA4453D", "[1.53792e-13]" },
    { LSQ_VEC_F32, "5A91B4DC", "[-4.06602e+17]" },
    { LSQ_VEC_F32, "0D8DE67F000080807A8628DD", "[NaN,-1.17549e-38,-7.5897e+17]" },
    { LSQ_VEC_F32, "", "[]" },
    { LSQ_VEC_F32, "BA22A415", "[6.62939e-26]" },
    { LSQ_VEC_F64, "9FCDF14B904F6AC3", "[-5.92466e+16]" },
    { LSQ_VEC_F64, "35A47EE5E985FB0E", "[1.69068e-236]" },
    { LSQ_VEC_F32, "0566BB87", "[-2.81966e-34]" },
    { LSQ_VEC_F32, "E2E810D0", "[-9.72473e+09]" },
    { LSQ_VEC_F64, "21DA7D719D780A8D", "[-7.57193e-246]" },
    { LSQ_VEC_F32, "8F7B38AD6D8A5C3AB2A0E3CF", "[-1.04866e-11,0.000841296,-7.63792e+09]" },
    { LSQ_VEC_F32, "CAF841E052B35D54", "[-5.59086e+19,3.80879e+12]" },
    { LSQ_VEC_F32, "9ED202BC", "[-0.00798479]" },
    { LSQ_VEC_F32, "FF0A05BC", "[-0.0081203]" },
    { LSQ_VEC_F64, "3C6D7F3CD03FC8EA", "[-2.43291e+206]" },
    { LSQ_VEC_F64, "D2AA3AD85B02A574", "[7.70151e+253]" },
    { LSQ_VEC_F32, "C814F95E", "[8.9741e+18]" },
    { LSQ_VEC_F32, "0AB586CA", "[-4.41409e+06]" },
    { LSQ_VEC_F32, "2A7DDD4F", "[7.43193e+09]" },
    { LSQ_VEC_F64, "5051F52B9D0F97BF", "[-0.0225205]" },
    { LSQ_VEC_F32, "733AFDBB", "[-0.00772791]" },
    { LSQ_VEC_F64, "00000060CF12F3FF", "[NaN]" },
    { LSQ_VEC_F32, "F30814C1", "[-9.25218]" },
    { LSQ_VEC_F64, "605D778DADAFB6BD", "[-2.0633e-11]" },
    { LSQ_VEC_F64, "003D9160E458E1431444E91B8169105E", "[1e+19,1.28086e+145]" },
    { LSQ_VEC_F32, "E9BCA3F8", "[-2.6568e+34]" },
    { LSQ_VEC_F64, "AAADD3A63907B6BF", "[-0.0860477]" },
    { LSQ_VEC_F64, "B681BE1FD61734FF", "[-5.51167e+304]" },
    { LSQ_VEC_F32, "", "[]" },
    { LSQ_VEC_F64, "BE2A9B13E2361ABF", "[-0.0001]" },
    { LSQ_VEC_F32, "1680CB9B", "[-3.36663e-22]" },
    { LSQ_VEC_F64, "0000008052BF43C1", "[-2.58833e+06]" },
    { LSQ_VEC_F32, "0ED12859", "[2.96985e+15]" },
    { LSQ_VEC_F64, "4BA1D4484D78D373", "[8.71246e+249]" },
    { LSQ_VEC_F32, "7C2834C6", "[-11530.1]" },
    { LSQ_VEC_F64, "0E654744DDDE38B4", "[-3.96211e-57]" },
    { LSQ_VEC_F32, "2DA561EA", "[-6.81971e+25]" },
    { LSQ_VEC_F64, "000000000000F0FF", "[-Inf]" },
    { LSQ_VEC_F64, "FA38E4B0451CA23F80CE9F29BB14D5DE16C6F35AF50293237CE6E9188FF9E8A0", "[0.0353719,-6.7389e+148,2.55435e-137,-3.81483e-150]" },
    { LSQ_VEC_F64, "05E9843837612711", "[4.93461e-226]" },
    { LSQ_VEC_F64, "ED8313DDE830302C", "[7.58013e-96]" },
    { LSQ_VEC_F32, "A17731AE", "[-4.03514e-11]" },
    { LSQ_VEC_F32, "36DD600B", "[4.33073e-32]" },
    { LSQ_VEC_F32, "505581C3", "[-258.667]" },
    { LSQ_VEC_F64, "438F4DF26A817492", "[-9.07641e-220]" },
    { LSQ_VEC_F64, "AFDFA0A52570F974", "[2.98401e+255]" },
    { LSQ_VEC_F64, "", "[]" },
    { LSQ_VEC_F64, "0080F6399789BA42", "[2.91783e+13]" },
    { LSQ_VEC_F32, "B19EB058", "[1.55356e+15]" },
    { LSQ_VEC_F32, "B3601AC6", "[-9880.17]" },
    { LSQ_VEC_F64, "F88193806ECC33E5", "[-3.20916e+179]" },
    { LSQ_VEC_F32, "00008000", "[1.17549e-38]" },
    { LSQ_VEC_F64, "7641755A541752BFD1688930219D3AD911B132CB3357CB2B7F175264E4D9333D", "[-0.0011042,-6.87235e+121,1e-97,7.05254e-14]" },
    { LSQ_VEC_F32, "FD93232E", "[3.71933e-11]" },
    { LSQ_VEC_F32, "2094C2C7", "[-99624.3]" },
    { LSQ_VEC_F64, "1B1C6C51ECB80D8F11B132CB3357FBFFBEA2D1125D4E48F6D8BA5346DCE91C10", "[-3.65154e-236,NaN,-5.97946e+261,4.65591e-231]" },
    { LSQ_VEC_F64, "34013DD599CC6CD6", "[-2.11363e+108]" },
    { LSQ_VEC_F64, "1B9A5E45B74E3F8A", "[-2.54526e-259]" },
    { LSQ_VEC_F32, "E2064FC7", "[-52998.9]" },
    { LSQ_VEC_F64, "E156265EBD237D3E", "[1.08554e-07]" },
    { LSQ_VEC_F64, "147CC59CC30204470CF54FA19B0525A2", "[1.29877e+34,-3.36701e-144]" },
    { LSQ_VEC_F32, "2AA50335", "[4.90416e-07]" },
    { LSQ_VEC_F64, "01E047341D7086A0", "[-5.3552e-152]" },
    { LSQ_VEC_F64, "C2ED1155B224C6C8", "[-3.85791e+42]" },
    { LSQ_VEC_F32, "ACC527B7E8FC31C920918035", "[-1e-05,-729039,9.57898e-07]" },
    { LSQ_VEC_F64, "1E9F782333ADF323", "[1.69196e-135]" },
    { LSQ_VEC_F32, "73FDC954", "[6.94032e+12]" },
    { LSQ_VEC_F64, "BE2A9B13E236FAFF", "[NaN]" },
    { LSQ_VEC_F32, "09A156A1", "[-7.27191e-19]" },
    { LSQ_VEC_F32, "EE5813F5", "[-1.86785e+32]" },
    { LSQ_VEC_F32, "62A3563F", "[0.838431]" },
    { LSQ_VEC_F32, "0D817BB8", "[-5.99633e-05]" },
    { LSQ_VEC_F32, "3A376CB8", "[-5.63182e-05]" },
    { LSQ_VEC_F64, "0067100792552C43", "[3.98769e+15]" },
    { LSQ_VEC_F64, "16FEFBBB4ADD1243", "[1.32747e+15]" },
    { LSQ_VEC_F64, "53C86A4E83DF74FB", "[-4.96618e+286]" },
    { LSQ_VEC_F64, "8AAD2F78E5C34B3E", "[1.29292e-08]" },
    { LSQ_VEC_F64, "3716EFC1DFF98366", "[6.79043e+185]" },
    { LSQ_VEC_F64, "64912D2FD938267F", "[3.04783e+304]" },
    { LSQ_VEC_F64, "6C6B30E70256EEA1", "[-3.03676e-145]" },
    { LSQ_VEC_F32, "97EB36BD", "[-0.0446583]" },
    { LSQ_VEC_F32, "000080FF", "[-Inf]" },
};

#undef T

#endif
