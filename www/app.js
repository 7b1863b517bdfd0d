// UI thread of the Data Capture anonymiser. The wasm runs in worker.js; this file only handles
// the page: file selection, the secret, progress, the report and the downloads.

// ---------------------------------------------------------------------------------------------
// Text. Every user-visible string lives here so that another language can be added as a sibling
// of `en` (elements in index.html carry data-i18n keys). Entries with {one, other} are plurals.
const STRINGS = {
  en: {
    title: 'Data Capture — anonymiser',
    skipLink: 'Skip to main content',
    heading: 'Data Capture — anonymiser',
    intro: 'Prepare de-identified DICOM files for research: choose the files, enter your site secret, '
      + 'and download one zip file organised by export date and research visit.',
    privacy: 'Everything happens inside this web browser: no file, passphrase or result is sent over the '
      + 'network. Nothing leaves this computer, and the page keeps working if the network is disconnected '
      + 'after it has loaded.',
    step1: 'Choose the files',
    dropHint: 'Drag and drop files or folders here, or use the buttons below. Files that are not DICOM '
      + 'are listed in the report and left out of the export.',
    filesLabel: 'Files',
    folderLabel: 'A whole folder',
    clear: 'Clear selection',
    selNone: 'No files selected yet.',
    selSome: '{files} selected ({size}).',
    dropFailed: 'Some of the dropped items could not be read and were not added: {message}',
    step2: 'Site secret and settings',
    secretLabel: 'Site secret (passphrase)',
    showSecret: 'Show passphrase',
    secretHint: 'Use the same passphrase for every export from your site: the same patient then always '
      + 'gets the same research ID. If you leave it empty, a random secret is used and the research IDs '
      + 'will not match those of any other export.',
    formatLegend: 'Output format',
    formatDicom: 'DICOM',
    formatNifti: 'NIfTI',
    formatBoth: 'DICOM and NIfTI',
    comingSoon: '(coming soon)',
    deidLegend: 'De-identification',
    presetLabel: 'Preset',
    presetMip: 'Research platform (recommended)',
    presetBasic: 'DICOM Basic Profile',
    presetHint: 'The research platform preset keeps the series descriptions and protocol names (please check '
      + 'that they name no person), patient sex, age, size and weight, and the device; it reduces the birth '
      + 'date to the year and other dates to the month, and exports only primary images.',
    datesLabel: 'Dates',
    datesDefault: 'As the preset says',
    datesMonth: 'Reduce to the month',
    datesShift: 'Shift by a per-patient offset (keeps intervals)',
    datesKeep: 'Keep unchanged',
    datesRemove: 'Remove',
    visitByLabel: 'One research visit is',
    visitByDate: 'one patient on one day',
    visitByStudy: 'one study',
    patientIdLegend: 'Patient IDs of the images and the tables are the same when they differ only by',
    pidLeadingZeros: 'leading zeros (00123 = 123)',
    pidCase: 'upper and lower case (ab12 = AB12)',
    pidSeparators: 'spaces, dashes and dots (12-34.5 = 12345)',
    patientIdHint: 'Spaces around an ID never count. A site setting: keep it the same for every export, '
      + 'or the research IDs change.',
    normLeadingZeros: 'leading zeros',
    normCase: 'case',
    normSeparators: 'spaces, dashes and dots',
    nearMiss: 'Near miss: {ids} of this table link to no image, but would when ignoring {options} '
      + '(patient ID settings).',
    patientIds: { one: '{n} patient ID', other: '{n} patient IDs' },
    unlinkedRows: '{table}: {rows} link to no image (rows {list}).',
    rowsWithoutId: '{table}: {rows} without a patient ID (rows {list}).',
    optionsLegend: 'Additional options (DICOM PS3.15 Annex E)',
    optRetainSafePrivate: 'Keep safe private attributes (diffusion and PET values)',
    optRetainUids: 'Keep the original UIDs',
    optRetainDevice: 'Keep device identity',
    optRetainInstitution: 'Keep institution identity',
    optRetainPatientChars: 'Keep patient characteristics (sex, age, size, weight)',
    optCleanDescriptors: 'Keep descriptions, cleaned of names and numbers',
    optCleanStructured: 'Keep structured content, cleaned',
    optCleanGraphics: 'Keep overlays and graphics (I have checked they show no identity)',
    includeQuarantined: 'Also export files that are held back by default',
    quarantineHint: 'Held back: images with burned-in text, screenshots, ultrasound, scanned documents, '
      + 'photographs and videos, reports, and (research platform preset) non-primary images.',
    step3: 'Check, then write the export',
    step3Hint: 'First the files are checked and the export is planned: you see what will be exported, '
      + 'per patient and visit, before anything is written.',
    run: 'Check the files',
    cancel: 'Cancel',
    progressLabel: 'Export progress',
    loading: 'Loading the anonymiser…',
    readyStatus: 'Ready.',
    noFiles: 'Please choose at least one file first.',
    randomSecret: 'No passphrase was entered, so a random secret was used for this export. The research '
      + 'IDs in it will not match those of any other export, and it cannot be repeated identically.',
    starting: 'Starting…',
    phaseScan: 'Step 1 of 2, checking files',
    phaseExport: 'Step 2 of 2, writing the export',
    progressLine: '{phase}: {filesDone} of {files} · {mbDone} of {mbTotal} MB · {rate} MB/s · {left}',
    timeLeft: 'about {time} left',
    estimating: 'estimating time left…',
    doneStatus: 'Finished in {time}: {exported} exported, {skipped} skipped, out of {inputs}.',
    doneAnnounce: 'The export is ready to download.',
    nothingExported: 'No file could be exported. See the report below for the reason of each file.',
    cancelled: 'Export cancelled. Nothing was saved.',
    failedStatus: 'The export stopped because of an error. Nothing was saved.',
    fileError: 'Error while processing “{file}”: {message}',
    engineStopped: 'The anonymiser stopped on “{file}” ({message}): the file is probably too large for this browser’s memory, or damaged. Nothing was written. Start the export again without this file, or on a computer with more memory.',
    generalError: 'Error: {message}',
    startFailed: 'The anonymiser could not be started ({message}). Please reload the page.',
    loadFailed: 'the program files could not be loaded',
    download: 'Download the export ({name}, {size})',
    downloadReport: 'Download report (JSON)',
    leaveWarning: 'An export is running. Leaving the page will cancel it.',
    reportTitle: 'Report',
    reportCounts: '{inputs} checked: {exported} exported in {visits}, {skipped} skipped, {quarantined} quarantined.',
    reportAuditClean: 'Output audit: {files} searched for every identifier of their original; none was found.',
    reportAuditHeld: 'Output audit: {files} searched for every identifier of their original; {held} held back because one was found (see the list).',
    visitsTitle: 'Visits',
    noVisits: 'No visit was exported.',
    colPatient: 'Research patient ID',
    colScan: 'Scan research ID',
    colSeries: 'Series',
    colFiles: 'Files',
    filesTitle: 'Every input file',
    colInput: 'Input file',
    colSize: 'Size',
    colOutcome: 'Outcome',
    outcomeExported: 'exported as {path}',
    outcomeOther: '{outcome}: {reason}',
    // Why a file is left out, by the report's code (crate/src/report.rs, Why).
    outcomeSkipped: 'skipped',
    outcomeQuarantined: 'quarantined',
    reasonNotDicom: 'not a DICOM file, nor a table the export can read',
    reasonDicomdir: 'DICOMDIR index file, not an image',
    reasonCorrupt: 'damaged DICOM file',
    reasonTransferSyntax: 'image encoding (transfer syntax) not supported',
    reasonWriteFailed: 'the de-identified file could not be written',
    reasonIdentifierFound: 'held back: an identifier of the original was found in the de-identified file',
    reasonChanged: 'the file changed while the export was running',
    reasonTableUnreadable: 'unreadable table',
    reasonTableMalformed: 'table with malformed rows, left out as the settings ask',
    reasonSpreadsheetUnreadable: 'unreadable spreadsheet',
    reasonSpreadsheetSeveralSheets: 'spreadsheet with several visible sheets: save each sheet as its own file (CSV or a workbook of one sheet)',
    reasonUnreadable: 'the file could not be read',
    reasonDuplicate: 'duplicate of another file (same SOP Instance UID)',
    reasonNiftiNotConverted: 'not converted to NIfTI',
    reasonNotReached: 'not exported: the export ended before this file',
    reasonBurnedIn: 'burned-in annotation: the image may show identifying text',
    reasonRiskySopClass: 'a kind of object that often carries identifying text or documents (SOP class)',
    reasonNotPrimary: 'not a primary image: the mip preset exports primary images only (ImageType)',
    reasonZipEntryIgnored: 'zip entry left out',
    secretWarning: 'Use the same secret for every export of your site: exports made with a different secret '
      + 'will not link (the same patient gets different research IDs).',
    secretFileLabel: 'Or load the site key file',
    secretGenerate: 'Create a key file for a new site',
    secretGenerated: 'A new key file was created and downloaded ({name}). Keep it safe (like a password) and '
      + 'use it for every export of your site; without it, later exports will not link to this one.',
    secretLoaded: 'Key file “{name}” loaded.',
    secretFileFailed: 'The key file could not be read: {message}',
    secretRemember: 'Remember the secret on this computer',
    secretRememberHint: 'Off by default. When on, the secret is kept in this browser’s storage for this page, '
      + 'where anyone using this computer account could read it.',
    settingsExport: 'Save settings to a file',
    settingsImport: 'Load settings from a file',
    settingsLoaded: 'Settings loaded from “{name}”.',
    settingsFailed: 'The settings file could not be read: {message}',
    saveLegend: 'Saving the export',
    layoutLegend: 'Folders in the export',
    readyMarker: 'Add a “.ready” file to each daily folder',
    readyMarkerHint: 'The research platform starts reading a folder once this file is there. It is written '
      + 'last, after all the other files of the folder.',
    yearFolder: 'Add a folder for the year above each daily folder',
    yearFolderHint: 'For example DICOM/2026/20261124/… instead of DICOM/20261124/….',
    niftiGzip: 'Compress NIfTI volumes (.nii.gz)',
    niftiGzipHint: 'Smaller files; leave unchecked for .nii, which SPM12 reads directly.',
    saveModeLabel: 'Where the zip goes',
    saveAuto: 'Ask where to save it, and write it there directly (recommended for large exports)',
    saveLink: 'Prepare it in the browser, then offer a download link',
    saveModeHint: 'Writing directly to a file keeps memory low however large the export is. Browsers that '
      + 'cannot do it (e.g. Firefox) always use the download link.',
    phaseReview: 'Checked: please review the export below, then write it.',
    reviewTitle: 'Check before writing the export',
    reviewIntro: 'This is what the export will contain. Check that the series descriptions name no person. '
      + 'The original patient IDs are shown here only; they are not written in the export.',
    reviewCounts: '{patients}, {visits}, {series}, {images} to export; {tables}; {skipped} skipped, '
      + '{quarantined} held back.',
    descKept: 'Series descriptions are written as shown below: check that none names a person.',
    descCleaned: 'Series descriptions are written cleaned of names and numbers.',
    descRemoved: 'Series descriptions are removed from the export.',
    descReplaced: 'Series descriptions are replaced in the export.',
    confirm: 'Write the export',
    reviewBack: 'Cancel',
    reidDownload: 'Download re-identification table',
    reidHint: 'Original patient ID ↔ research IDs, for your data controller only. It is never part of the '
      + 'export: keep it safe, and do not send it with the export.',
    mappingKeep: 'Also prepare the UID and patient ID mapping',
    mappingHint: 'For an auditor: two tables (patid_mapping.csv, uid_mapping.csv) of every original patient ID '
      + 'and UID of the export and what replaced it, offered for download after the export. It holds '
      + 'original identifiers and is never part of the export.',
    downloadMapping: 'Download UID and patient ID mapping (zip)',
    reviewPatients: 'Patients and visits',
    reviewPatient: 'Research patient {id}',
    reviewOriginal: 'original patient ID: {id}',
    reviewVisit: 'Visit {id}',
    reviewStudyDate: 'study date {date}',
    reviewTables: 'Tables',
    reviewTable: '{name}: {rows}',
    reviewExcluded: 'Files left out',
    colSeriesNo: 'No.',
    colModality: 'Modality',
    colDescription: 'Series description',
    colImages: 'Images',
    colColumn: 'Column',
    colRule: 'Rule',
    colReason: 'Reason',
    colOutputName: 'Written as',
    colExamples: 'Examples (shown here only)',
    ruleFor: 'Rule for column {column} of {table}',
    quasiLabel: 'quasi-identifier',
    quasiFor: 'Column {column} of {table} can help re-identify a person together with others (counted in the k-anonymity check)',
    ruleKeep: 'keep — copied unchanged',
    ruleDrop: 'drop — left out',
    rulePatientId: 'patient-id — replaced by the research patient ID',
    ruleVisit: 'visit — replaced by the scan research ID',
    ruleDate: 'date — follows the date setting',
    ruleBirthDate: 'birth-date — year only',
    tablesRulesHint: 'Check the rule of each column: “drop” leaves it out, “keep” copies it as it is. '
      + 'Columns that name or locate a person must not be kept.',
    reportTablesTitle: 'Tables and linkage',
    linkage: 'Patients in the tables and the images: {both}; in the tables only: {tablesOnly}; '
      + 'in the images only: {imagesOnly}.',
    linkageVisits: '{matched} of {values} visit values match a visit of the images.',
    reportTable: '{name}: {rows}, written as {path}',
    notExported: '(not exported)',
    kWarning: 'Warning: some combination of the values of {columns} occurs in only {k} row(s) (fewer than '
      + '{min}). Those patients might be recognised: consider dropping or coarsening one of these columns.',
    dropped: '(dropped)',
    noDescription: '(none)',
    saveFailed: 'The file could not be written ({message}); offering a download link instead.',
    savedStatus: 'Finished in {time}: {exported} exported, {skipped} skipped, out of {inputs}. '
      + 'The export was saved as “{name}”.',
    footer: 'Works offline once loaded. Close this tab when you have finished to clear the data from memory.',
    languageLabel: 'Language',
    files: { one: '{n} file', other: '{n} files' },
    visits: { one: '{n} visit', other: '{n} visits' },
    patients: { one: '{n} patient', other: '{n} patients' },
    series: { one: '{n} series', other: '{n} series' },
    images: { one: '{n} image', other: '{n} images' },
    tables: { one: '{n} table', other: '{n} tables' },
    rows: { one: '{n} row', other: '{n} rows' },
    units: { s: '{n} s', min: '{n} min', h: '{n} h' },
    bytes: { B: '{n} B', kB: '{n} kB', MB: '{n} MB', GB: '{n} GB' },
  },
  fr: {
    title: 'Data Capture — anonymisation',
    skipLink: 'Aller au contenu principal',
    heading: 'Data Capture — anonymisation',
    intro: 'Préparez des fichiers DICOM anonymisés pour la recherche : choisissez les fichiers, saisissez le '
      + 'secret de votre site, puis téléchargez un seul fichier zip classé par date d’export et par visite.',
    privacy: 'Tout se passe dans ce navigateur : aucun fichier, mot de passe ou résultat n’est envoyé sur le '
      + 'réseau. Rien ne quitte cet ordinateur, et la page continue de fonctionner si le réseau est coupé '
      + 'après son chargement.',
    step1: 'Choisir les fichiers',
    dropHint: 'Glissez-déposez ici des fichiers ou des dossiers, ou utilisez les boutons ci-dessous. Les fichiers '
      + 'qui ne sont pas des images DICOM sont indiqués dans le rapport et ne sont pas exportés.',
    filesLabel: 'Fichiers',
    folderLabel: 'Un dossier entier',
    clear: 'Vider la sélection',
    selNone: 'Aucun fichier choisi pour l’instant.',
    selSome: '{files} choisis ({size}).',
    dropFailed: 'Certains éléments déposés n’ont pas pu être lus et n’ont pas été ajoutés : {message}',
    step2: 'Secret du site et réglages',
    secretLabel: 'Secret du site (phrase de passe)',
    showSecret: 'Afficher la phrase de passe',
    secretHint: 'Utilisez la même phrase de passe pour tous les exports de votre site : un même patient reçoit '
      + 'alors toujours le même identifiant de recherche. Si vous la laissez vide, un secret au hasard est '
      + 'utilisé et les identifiants ne correspondront à ceux d’aucun autre export.',
    formatLegend: 'Format des fichiers exportés',
    formatDicom: 'DICOM',
    formatNifti: 'NIfTI',
    formatBoth: 'DICOM et NIfTI',
    comingSoon: '(bientôt disponible)',
    deidLegend: 'Anonymisation',
    presetLabel: 'Profil',
    presetMip: 'Plateforme de recherche (recommandé)',
    presetBasic: 'Profil de base DICOM',
    presetHint: 'Le profil de la plateforme de recherche garde les descriptions de séries et les noms de protocole '
      + '(vérifiez qu’ils ne nomment personne), le sexe, l’âge, la taille et le poids du patient, et l’appareil ; '
      + 'il réduit la date de naissance à l’année et les autres dates au mois, et n’exporte que les images '
      + 'primaires.',
    datesLabel: 'Dates',
    datesDefault: 'Selon le profil',
    datesMonth: 'Réduire au mois',
    datesShift: 'Décaler d’un écart propre à chaque patient (garde les intervalles)',
    datesKeep: 'Garder telles quelles',
    datesRemove: 'Supprimer',
    visitByLabel: 'Une visite de recherche, c’est',
    visitByDate: 'un patient sur une journée',
    visitByStudy: 'un examen (étude)',
    patientIdLegend: 'Les identifiants patient des images et des tableaux sont les mêmes s’ils ne diffèrent que par',
    pidLeadingZeros: 'des zéros en tête (00123 = 123)',
    pidCase: 'les majuscules et minuscules (ab12 = AB12)',
    pidSeparators: 'des espaces, tirets et points (12-34.5 = 12345)',
    patientIdHint: 'Les espaces autour d’un identifiant ne comptent jamais. Réglage du site : gardez-le identique '
      + 'pour chaque export, sinon les identifiants de recherche changent.',
    normLeadingZeros: 'les zéros en tête',
    normCase: 'la casse',
    normSeparators: 'les espaces, tirets et points',
    nearMiss: 'Presque liés : {ids} de ce tableau ne se lient à aucune image, mais se lieraient en ignorant '
      + '{options} (réglage des identifiants patient).',
    patientIds: { one: '{n} identifiant patient', other: '{n} identifiants patient' },
    unlinkedRows: '{table} : {rows} sans image liée (lignes {list}).',
    rowsWithoutId: '{table} : {rows} sans identifiant patient (lignes {list}).',
    optionsLegend: 'Options supplémentaires (DICOM PS3.15 annexe E)',
    optRetainSafePrivate: 'Garder les attributs privés sans risque (valeurs de diffusion et de TEP)',
    optRetainUids: 'Garder les UID d’origine',
    optRetainDevice: 'Garder l’identité de l’appareil',
    optRetainInstitution: 'Garder l’identité de l’établissement',
    optRetainPatientChars: 'Garder les caractéristiques du patient (sexe, âge, taille, poids)',
    optCleanDescriptors: 'Garder les descriptions, nettoyées des noms et des numéros',
    optCleanStructured: 'Garder le contenu structuré, nettoyé',
    optCleanGraphics: 'Garder les superpositions et graphiques (j’ai vérifié qu’ils ne montrent aucune identité)',
    includeQuarantined: 'Exporter aussi les fichiers mis de côté par défaut',
    quarantineHint: 'Mis de côté : images avec du texte incrusté, captures d’écran, échographies, documents scannés, '
      + 'photos et vidéos, comptes rendus et (profil de la plateforme) images non primaires.',
    step3: 'Vérifier, puis écrire l’export',
    step3Hint: 'Les fichiers sont d’abord vérifiés et l’export est préparé : vous voyez ce qui sera exporté, '
      + 'par patient et par visite, avant que quoi que ce soit ne soit écrit.',
    run: 'Vérifier les fichiers',
    cancel: 'Annuler',
    progressLabel: 'Avancement de l’export',
    loading: 'Chargement de l’outil d’anonymisation…',
    readyStatus: 'Prêt.',
    noFiles: 'Veuillez d’abord choisir au moins un fichier.',
    randomSecret: 'Aucune phrase de passe n’a été saisie : un secret au hasard a été utilisé pour cet export. '
      + 'Ses identifiants de recherche ne correspondront à ceux d’aucun autre export, et il ne pourra pas être '
      + 'refait à l’identique.',
    starting: 'Démarrage…',
    phaseScan: 'Étape 1 sur 2, vérification des fichiers',
    phaseExport: 'Étape 2 sur 2, écriture de l’export',
    progressLine: '{phase} : {filesDone} sur {files} · {mbDone} sur {mbTotal} Mo · {rate} Mo/s · {left}',
    timeLeft: 'encore environ {time}',
    estimating: 'estimation du temps restant…',
    doneStatus: 'Terminé en {time} : {exported} exportés, {skipped} écartés, sur {inputs}.',
    doneAnnounce: 'L’export est prêt à être téléchargé.',
    nothingExported: 'Aucun fichier n’a pu être exporté. Le rapport ci-dessous donne la raison pour chaque fichier.',
    cancelled: 'Export annulé. Rien n’a été enregistré.',
    failedStatus: 'L’export s’est arrêté à cause d’une erreur. Rien n’a été enregistré.',
    fileError: 'Erreur pendant le traitement de « {file} » : {message}',
    engineStopped: 'L’anonymiseur s’est arrêté sur « {file} » ({message}) : le fichier est sans doute trop grand pour la mémoire de ce navigateur, ou endommagé. Rien n’a été écrit. Relancez l’export sans ce fichier, ou sur un ordinateur avec plus de mémoire.',
    generalError: 'Erreur : {message}',
    startFailed: 'L’outil d’anonymisation n’a pas pu démarrer ({message}). Veuillez recharger la page.',
    loadFailed: 'les fichiers du programme n’ont pas pu être chargés',
    download: 'Télécharger l’export ({name}, {size})',
    downloadReport: 'Télécharger le rapport (JSON)',
    leaveWarning: 'Un export est en cours. Quitter la page l’annulera.',
    reportTitle: 'Rapport',
    reportCounts: '{inputs} vérifiés : {exported} exportés en {visits}, {skipped} écartés, {quarantined} mis de côté.',
    reportAuditClean: 'Contrôle de sortie : {files} examinés pour chaque identifiant de leur original ; aucun n’a été trouvé.',
    reportAuditHeld: 'Contrôle de sortie : {files} examinés pour chaque identifiant de leur original ; {held} retenus car un identifiant y a été trouvé (voir la liste).',
    visitsTitle: 'Visites',
    noVisits: 'Aucune visite n’a été exportée.',
    colPatient: 'Identifiant patient de recherche',
    colScan: 'Identifiant de recherche de l’examen',
    colSeries: 'Séries',
    colFiles: 'Fichiers',
    filesTitle: 'Tous les fichiers d’entrée',
    colInput: 'Fichier d’entrée',
    colSize: 'Taille',
    colOutcome: 'Résultat',
    outcomeExported: 'exporté sous {path}',
    outcomeOther: '{outcome} : {reason}',
    // Why a file is left out, by the report's code (crate/src/report.rs, Why).
    outcomeSkipped: 'écarté',
    outcomeQuarantined: 'mis de côté',
    reasonNotDicom: 'ni un fichier DICOM, ni un tableau que l’export sait lire',
    reasonDicomdir: 'fichier d’index DICOMDIR, pas une image',
    reasonCorrupt: 'fichier DICOM endommagé',
    reasonTransferSyntax: 'encodage d’image (syntaxe de transfert) non pris en charge',
    reasonWriteFailed: 'le fichier anonymisé n’a pas pu être écrit',
    reasonIdentifierFound: 'retenu : un identifiant de l’original a été trouvé dans le fichier anonymisé',
    reasonChanged: 'le fichier a changé pendant l’export',
    reasonTableUnreadable: 'tableau illisible',
    reasonTableMalformed: 'tableau avec des lignes mal formées, écarté comme le demandent les réglages',
    reasonSpreadsheetUnreadable: 'classeur illisible',
    reasonSpreadsheetSeveralSheets: 'classeur de plusieurs feuilles visibles : enregistrez chaque feuille dans son propre fichier (CSV ou classeur d’une feuille)',
    reasonUnreadable: 'le fichier n’a pas pu être lu',
    reasonDuplicate: 'doublon d’un autre fichier (même SOP Instance UID)',
    reasonNiftiNotConverted: 'non converti en NIfTI',
    reasonNotReached: 'non exporté : l’export s’est terminé avant ce fichier',
    reasonBurnedIn: 'annotation incrustée : l’image peut montrer du texte identifiant',
    reasonRiskySopClass: 'un type d’objet qui contient souvent du texte identifiant ou des documents (classe SOP)',
    reasonNotPrimary: 'pas une image primaire : le préréglage mip n’exporte que les images primaires (ImageType)',
    reasonZipEntryIgnored: 'entrée d’archive zip écartée',
    secretWarning: 'Utilisez le même secret pour tous les exports de votre site : des exports faits avec un autre '
      + 'secret ne pourront pas être reliés (le même patient aura d’autres identifiants de recherche).',
    secretFileLabel: 'Ou charger le fichier clé du site',
    secretGenerate: 'Créer un fichier clé pour un nouveau site',
    secretGenerated: 'Un nouveau fichier clé a été créé et téléchargé ({name}). Conservez-le en lieu sûr (comme '
      + 'un mot de passe) et utilisez-le pour tous les exports de votre site ; sans lui, les exports suivants ne '
      + 'pourront pas être reliés à celui-ci.',
    secretLoaded: 'Fichier clé « {name} » chargé.',
    secretFileFailed: 'Le fichier clé n’a pas pu être lu : {message}',
    secretRemember: 'Mémoriser le secret sur cet ordinateur',
    secretRememberHint: 'Désactivé par défaut. Si activé, le secret est gardé dans ce navigateur pour cette page, '
      + 'où toute personne utilisant ce compte de l’ordinateur pourrait le lire.',
    settingsExport: 'Enregistrer les réglages dans un fichier',
    settingsImport: 'Charger les réglages depuis un fichier',
    settingsLoaded: 'Réglages chargés depuis « {name} ».',
    settingsFailed: 'Le fichier de réglages n’a pas pu être lu : {message}',
    saveLegend: 'Enregistrement de l’export',
    layoutLegend: 'Dossiers de l’export',
    readyMarker: 'Ajouter un fichier « .ready » dans chaque dossier du jour',
    readyMarkerHint: 'La plateforme de recherche commence à lire un dossier dès que ce fichier s’y trouve. Il est '
      + 'écrit en dernier, après tous les autres fichiers du dossier.',
    yearFolder: 'Ajouter un dossier pour l’année au-dessus de chaque dossier du jour',
    yearFolderHint: 'Par exemple DICOM/2026/20261124/… au lieu de DICOM/20261124/….',
    niftiGzip: 'Compresser les volumes NIfTI (.nii.gz)',
    niftiGzipHint: 'Fichiers plus petits ; laisser décoché pour des .nii, que SPM12 lit directement.',
    saveModeLabel: 'Où va le fichier zip',
    saveAuto: 'Demander où l’enregistrer, et l’écrire directement à cet endroit (conseillé pour les gros exports)',
    saveLink: 'Le préparer dans le navigateur, puis proposer un lien de téléchargement',
    saveModeHint: 'Écrire directement dans un fichier garde la mémoire basse, quelle que soit la taille de l’export. '
      + 'Les navigateurs qui ne le permettent pas (par exemple Firefox) utilisent toujours le lien de téléchargement.',
    phaseReview: 'Vérification terminée : relisez l’export ci-dessous, puis écrivez-le.',
    reviewTitle: 'À vérifier avant d’écrire l’export',
    reviewIntro: 'Voici ce que contiendra l’export. Vérifiez que les descriptions de séries ne nomment personne. '
      + 'Les identifiants patients d’origine ne sont affichés qu’ici ; ils ne sont pas écrits dans l’export.',
    reviewCounts: '{patients}, {visits}, {series}, {images} à exporter ; {tables} ; {skipped} écartés, '
      + '{quarantined} mis de côté.',
    descKept: 'Les descriptions de séries sont écrites telles qu’affichées ci-dessous : vérifiez qu’aucune ne nomme '
      + 'une personne.',
    descCleaned: 'Les descriptions de séries sont écrites nettoyées des noms et des numéros.',
    descRemoved: 'Les descriptions de séries sont retirées de l’export.',
    descReplaced: 'Les descriptions de séries sont remplacées dans l’export.',
    confirm: 'Écrire l’export',
    reviewBack: 'Annuler',
    reidDownload: 'Télécharger la table de réidentification',
    reidHint: 'Identifiant patient d’origine ↔ identifiants de recherche, uniquement pour votre responsable des '
      + 'données. Elle ne fait jamais partie de l’export : gardez-la en lieu sûr et ne l’envoyez pas avec l’export.',
    mappingKeep: 'Préparer aussi la correspondance des UID et des identifiants patients',
    mappingHint: 'Pour un auditeur : deux tables (patid_mapping.csv, uid_mapping.csv) de chaque identifiant patient '
      + 'et UID d’origine de l’export et de ce qui l’a remplacé, proposées au téléchargement après l’export. Elles '
      + 'contiennent des identifiants d’origine et ne font jamais partie de l’export.',
    downloadMapping: 'Télécharger la correspondance des UID et des identifiants patients (zip)',
    reviewPatients: 'Patients et visites',
    reviewPatient: 'Patient de recherche {id}',
    reviewOriginal: 'identifiant patient d’origine : {id}',
    reviewVisit: 'Visite {id}',
    reviewStudyDate: 'date de l’examen {date}',
    reviewTables: 'Tableaux',
    reviewTable: '{name} : {rows}',
    reviewExcluded: 'Fichiers écartés',
    colSeriesNo: 'N°',
    colModality: 'Modalité',
    colDescription: 'Description de la série',
    colImages: 'Images',
    colColumn: 'Colonne',
    colRule: 'Règle',
    colReason: 'Raison',
    colOutputName: 'Écrite sous',
    colExamples: 'Exemples (affichés ici seulement)',
    ruleFor: 'Règle pour la colonne {column} de {table}',
    quasiLabel: 'quasi-identifiant',
    quasiFor: 'La colonne {column} de {table} peut aider à réidentifier une personne avec d’autres (comptée dans le contrôle de k-anonymat)',
    ruleKeep: 'keep — copiée telle quelle',
    ruleDrop: 'drop — retirée',
    rulePatientId: 'patient-id — remplacée par l’identifiant patient de recherche',
    ruleVisit: 'visit — remplacée par l’identifiant de recherche de l’examen',
    ruleDate: 'date — suit le réglage des dates',
    ruleBirthDate: 'birth-date — année seulement',
    tablesRulesHint: 'Vérifiez la règle de chaque colonne : « drop » la retire, « keep » la copie telle quelle. '
      + 'Les colonnes qui nomment ou situent une personne ne doivent pas être gardées.',
    reportTablesTitle: 'Tableaux et liaison',
    linkage: 'Patients présents dans les tableaux et dans les images : {both} ; dans les tableaux seulement : '
      + '{tablesOnly} ; dans les images seulement : {imagesOnly}.',
    linkageVisits: '{matched} valeurs de visite sur {values} correspondent à une visite des images.',
    reportTable: '{name} : {rows}, écrit sous {path}',
    notExported: '(non exporté)',
    kWarning: 'Attention : une combinaison des valeurs de {columns} n’apparaît que dans {k} ligne(s) (moins de '
      + '{min}). Ces patients pourraient être reconnus : envisagez de retirer ou de simplifier une de ces colonnes.',
    dropped: '(retirée)',
    noDescription: '(aucune)',
    saveFailed: 'Le fichier n’a pas pu être écrit ({message}) ; un lien de téléchargement est proposé à la place.',
    savedStatus: 'Terminé en {time} : {exported} exportés, {skipped} écartés, sur {inputs}. '
      + 'L’export a été enregistré sous « {name} ».',
    footer: 'Fonctionne hors ligne une fois chargée. Fermez cet onglet quand vous avez terminé pour effacer les '
      + 'données de la mémoire.',
    languageLabel: 'Langue',
    files: { one: '{n} fichier', other: '{n} fichiers' },
    visits: { one: '{n} visite', other: '{n} visites' },
    patients: { one: '{n} patient', other: '{n} patients' },
    series: { one: '{n} série', other: '{n} séries' },
    images: { one: '{n} image', other: '{n} images' },
    tables: { one: '{n} tableau', other: '{n} tableaux' },
    rows: { one: '{n} ligne', other: '{n} lignes' },
    units: { s: '{n} s', min: '{n} min', h: '{n} h' },
    bytes: { B: '{n} o', kB: '{n} ko', MB: '{n} Mo', GB: '{n} Go' },
  },
};
// For the tests' check that every language has every key (webdriver/tests/i18n.rs).
globalThis.captureStrings = STRINGS;

const STORE_LANG = 'capture.lang';
let LANG, S, plural, num1, int;

function setLanguage(lang) {
  LANG = STRINGS[lang] ? lang : 'en';
  S = STRINGS[LANG];
  plural = new Intl.PluralRules(LANG);
  num1 = new Intl.NumberFormat(LANG, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  int = new Intl.NumberFormat(LANG);
}
setLanguage(pickLanguage());

/** The language chosen on this computer before, else the browser's. */
function pickLanguage() {
  let stored = null;
  try { stored = window.localStorage.getItem(STORE_LANG); } catch { /* no storage */ }
  const wanted = [stored, ...(navigator.languages || []), navigator.language];
  for (const l of wanted) {
    const base = String(l || '').toLowerCase().split('-')[0];
    if (STRINGS[base]) return base;
  }
  return 'en';
}

/** Translate `key`, replacing {name} placeholders; plural entries choose by params.n. */
function t(key, params = {}) {
  let s = S[key];
  if (s && typeof s === 'object') s = s[plural.select(params.n)] || s.other;
  if (typeof s !== 'string') return key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
}

/** Plural entry `key` for the number n, e.g. tp('files', 3) → "3 files". */
function tp(key, n) {
  const forms = S[key];
  const s = forms[plural.select(n)] || forms.other;
  return s.replace('{n}', int.format(n));
}

function applyStrings(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  document.documentElement.lang = LANG;
  const select = document.getElementById('lang');
  if (select) select.value = LANG;
}

/** The language switch: remembered in this browser; the page's text follows at once. */
function changeLanguage() {
  setLanguage($('lang').value);
  try { window.localStorage.setItem(STORE_LANG, LANG); } catch { /* no storage */ }
  applyStrings();
  updateSelection();
  if (lastReport) renderReport(lastReport);
  else if (!running && active?.ready) setStatus(t('readyStatus'));
}

// ---------------------------------------------------------------------------------------------
// Formatting helpers.
const MB = 1e6;
function fmtMB(bytes) { return num1.format(bytes / MB); }
function fmtSize(bytes) {
  const u = S.bytes;
  if (bytes < 1e3) return u.B.replace('{n}', int.format(bytes));
  if (bytes < 1e6) return u.kB.replace('{n}', num1.format(bytes / 1e3));
  if (bytes < 1e9) return u.MB.replace('{n}', num1.format(bytes / 1e6));
  return u.GB.replace('{n}', num1.format(bytes / 1e9));
}
function fmtDuration(seconds) {
  const u = S.units;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return u.s.replace('{n}', s);
  const m = Math.floor(s / 60);
  if (m < 60) return `${u.min.replace('{n}', m)} ${u.s.replace('{n}', String(s % 60).padStart(2, '0'))}`;
  return `${u.h.replace('{n}', Math.floor(m / 60))} ${u.min.replace('{n}', String(m % 60).padStart(2, '0'))}`;
}
/** Today in LOCAL time as YYYYMMDD. */
function localDate(d = new Date()) {
  return String(d.getFullYear()).padStart(4, '0') + String(d.getMonth() + 1).padStart(2, '0')
    + String(d.getDate()).padStart(2, '0');
}
/** The de-identification settings as the wasm's `Settings` reads them. */
function deidSettings(format) {
  const settings = {
    format,
    preset: document.getElementById('preset').value,
    options: [...document.querySelectorAll('input[name="option"]:checked')].map((o) => o.value),
    visitBy: document.getElementById('visit-by').value,
    patientIdNormalise: [...document.querySelectorAll('input[name="patient-id-normalise"]:checked')].map((o) => o.value),
    includeQuarantined: document.getElementById('include-quarantined').checked,
    readyMarker: document.getElementById('ready-marker').checked,
    yearFolder: document.getElementById('year-folder').checked,
    niftiGzip: document.getElementById('nifti-gzip').checked,
  };
  const dates = document.getElementById('dates').value;
  if (dates) settings.dates = dates;
  return settings;
}

function randomSecret() {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// ---------------------------------------------------------------------------------------------
// Elements.
const $ = (id) => document.getElementById(id);
const el = {
  files: $('files'), folder: $('folder'), dropzone: $('dropzone'), clear: $('clear'),
  selection: $('selection-summary'), secret: $('secret'), secretToggle: $('secret-toggle'),
  run: $('run'), cancel: $('cancel'), progress: $('progress'), status: $('status'),
  announce: $('announce'), messages: $('messages'), download: $('download'),
  downloadReport: $('download-report'), report: $('report'), reportCounts: $('report-counts'), reportAudit: $('report-audit'),
  downloadMapping: $('download-mapping'), mappingKeep: $('mapping-keep'),
  visits: document.querySelector('#visits tbody'), outcomes: document.querySelector('#file-outcomes tbody'),
  review: $('review'), reviewCounts: $('review-counts'), reviewDescription: $('review-description'),
  confirm: $('confirm'), reviewCancel: $('review-cancel'), reid: $('reid'),
  reviewPatients: $('review-patients'), reviewTables: $('review-tables'),
  reviewTablesBlock: $('review-tables-block'), reviewExcludedBlock: $('review-excluded-block'),
  reviewExcluded: document.querySelector('#review-excluded tbody'), saveMode: $('save-mode'),
};

function setStatus(text) { el.status.textContent = text; }
function announce(text) { el.announce.textContent = text; }
function showMessage(kind, text) {
  const p = document.createElement('p');
  p.className = `msg msg-${kind}`;
  if (kind === 'error') p.setAttribute('role', 'alert');
  p.textContent = text;
  el.messages.append(p);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Selection: files from the file picker, the folder picker and drops, each item {file, name}
// where name is the relative path given to the anonymiser.
const dropped = [];

function selectedItems() {
  const items = [
    ...Array.from(el.files.files, (file) => ({ file, name: file.name })),
    ...Array.from(el.folder.files, (file) => ({ file, name: file.webkitRelativePath || file.name })),
    ...dropped,
  ];
  // No de-duplication by name, size or date: distinct files often share all three (IM0001 of
  // each series folder picked together). The same instance chosen twice is recognised by the
  // anonymiser (same SOP Instance UID) and reported as a duplicate, so nothing is lost silently.
  return items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function updateSelection() {
  const items = selectedItems();
  const size = items.reduce((n, { file }) => n + file.size, 0);
  el.selection.textContent = items.length
    ? t('selSome', { files: tp('files', items.length), size: fmtSize(size) })
    : t('selNone');
  updateControls();
}

function clearSelection() {
  el.files.value = '';
  el.folder.value = '';
  dropped.length = 0;
  updateSelection();
}

// Drag and drop, including folders (webkitGetAsEntry + readEntries until it returns nothing).
function entryFile(entry) {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}
function readBatch(reader) {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}
async function walkEntry(entry, out) {
  if (entry.isFile) {
    out.push({ file: await entryFile(entry), name: entry.fullPath.replace(/^\/+/, '') });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    const children = [];
    for (let batch = await readBatch(reader); batch.length; batch = await readBatch(reader)) {
      children.push(...batch);
    }
    for (const child of children) await walkEntry(child, out);
  }
}
async function collectDrop(dataTransfer) {
  // Entries must be taken synchronously, before the first await (the DataTransfer expires).
  const items = Array.from(dataTransfer.items || []).filter((i) => i.kind === 'file');
  const entries = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  if (!entries.length || !entries.every(Boolean)) {
    return Array.from(dataTransfer.files, (file) => ({ file, name: file.name }));
  }
  const out = [];
  for (const entry of entries) await walkEntry(entry, out);
  return out;
}

function setupDropzone() {
  const zone = el.dropzone;
  let depth = 0;
  const isFiles = (ev) => Array.from(ev.dataTransfer?.types || []).includes('Files');
  zone.addEventListener('dragenter', (ev) => {
    if (!isFiles(ev) || running) return;
    ev.preventDefault();
    depth++;
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragover', (ev) => {
    if (!isFiles(ev) || running) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', () => {
    if (--depth <= 0) { depth = 0; zone.classList.remove('dragging'); }
  });
  zone.addEventListener('drop', async (ev) => {
    ev.preventDefault();
    depth = 0;
    zone.classList.remove('dragging');
    if (running) return;
    try {
      for (const item of await collectDrop(ev.dataTransfer)) dropped.push(item);
    } catch (err) {
      showMessage('warn', t('dropFailed', { message: err?.message || String(err) }));
    }
    updateSelection();
  });
  // A file dropped next to the zone must not make the browser navigate away from the page.
  for (const type of ['dragover', 'drop']) {
    window.addEventListener(type, (ev) => { if (!zone.contains(ev.target)) ev.preventDefault(); });
  }
}

// ---------------------------------------------------------------------------------------------
// Workers. `active` runs the exports; `spare` is started in advance (once `active` is ready) so
// that Cancel can switch to a loaded worker even if the web server is gone by then.
let active = null;
let spare = null;
let running = null; // {exportDate, started, scanTotal, exportTotal, phase, phaseStarted, last}

function spawnWorker() {
  const entry = { worker: null, ready: false, error: null };
  try {
    entry.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  } catch (err) {
    entry.error = err?.message || String(err);
    return entry;
  }
  entry.worker.addEventListener('message', (ev) => onWorkerMessage(entry, ev.data || {}));
  entry.worker.addEventListener('error', (ev) => {
    ev.preventDefault();
    onWorkerMessage(entry, { type: 'error', message: ev.message || t('loadFailed'), file: null, fatal: true });
  });
  entry.worker.addEventListener('messageerror', () => {
    onWorkerMessage(entry, { type: 'error', message: 'message could not be decoded', file: null, fatal: true });
  });
  return entry;
}

/** Discard the active worker and continue with the spare one (or a new one). */
function replaceActive() {
  active?.worker?.terminate();
  active = spare && !spare.error ? spare : spawnWorker();
  spare = null;
  if (active.ready) spare = spawnWorker();
  if (active.error) showStartFailure(active.error);
  updateControls();
}

function showStartFailure(message) {
  setStatus('');
  showMessage('error', t('startFailed', { message }));
}

function onWorkerMessage(entry, msg) {
  if (entry !== active) {
    // The spare only reports whether it loaded.
    if (msg.type === 'ready') entry.ready = true;
    else if (msg.type === 'error' && !entry.ready) entry.error = msg.message;
    return;
  }
  switch (msg.type) {
    case 'ready':
      entry.ready = true;
      if (!running && el.status.textContent === t('loading')) setStatus(t('readyStatus'));
      if (!spare) spare = spawnWorker();
      updateControls();
      break;
    case 'progress':
      if (running) onProgress(msg);
      break;
    case 'review':
      if (running) onReview(msg);
      break;
    case 'done':
      if (running) onDone(msg);
      break;
    case 'error':
      if (running) {
        onRunError(msg);
      } else if (!entry.ready) {
        entry.error = msg.message;
        showStartFailure(msg.message);
        updateControls();
      } else {
        showMessage('error', t('generalError', { message: msg.message }));
      }
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Running an export.
const urls = { zip: null, report: null, mapping: null };
let offered = null; // the private file (worker.js openScratch) behind the download link, if any

// The download link's zip may live in a file of the origin's private file system: remove it
// once it is no longer offered. Just after a worker was stopped, its lock may still hold: retry.
async function removeScratch(name, retries = 3) {
  if (!name || !navigator.storage?.getDirectory) return;
  try {
    await (await navigator.storage.getDirectory()).removeEntry(name);
  } catch (err) {
    if (err?.name !== 'NotFoundError' && retries > 0) setTimeout(() => removeScratch(name, retries - 1), 1000);
  }
}

// Exports left by tabs closed a day ago or more (a tab still offering one keeps it).
async function sweepScratch() {
  try {
    const dir = await navigator.storage.getDirectory();
    for await (const [name, handle] of dir.entries()) {
      if (!/^export-.*\.zip$/.test(name) || handle.kind !== 'file') continue;
      const file = await handle.getFile();
      if (Date.now() - file.lastModified > 24 * 3600 * 1000) removeScratch(name, 0);
    }
  } catch { /* no private file system: nothing to sweep */ }
}

function clearResults() {
  for (const k of Object.keys(urls)) {
    if (urls[k]) URL.revokeObjectURL(urls[k]);
    urls[k] = null;
  }
  removeScratch(offered);
  offered = null;
  for (const a of [el.download, el.downloadReport, el.downloadMapping]) {
    a.hidden = true;
    a.removeAttribute('href');
    a.textContent = '';
  }
  el.messages.replaceChildren();
  el.report.hidden = true;
  el.visits.replaceChildren();
  outcomeRows = null;
  el.outcomes.replaceChildren();
  el.reportCounts.textContent = '';
  el.reportAudit.textContent = '';
  lastReport = null;
  clearReview();
  el.progress.value = 0;
  el.progress.max = 1;
}

function updateControls() {
  const busy = !!running;
  el.run.disabled = busy || !active?.ready;
  el.cancel.disabled = !busy;
  el.confirm.disabled = running?.phase !== 'review';
  el.reviewCancel.disabled = running?.phase !== 'review';
  el.progress.dataset.phase = running?.phase || (el.download.hidden ? 'idle' : 'done');
  for (const input of [el.files, el.folder, el.secret, el.secretToggle, $('secret-file'), $('secret-generate'),
    $('secret-remember'), $('settings-export'), $('settings-import'), $('lang')]) input.disabled = busy;
  document.getElementById('deid-settings').disabled = busy;
  document.getElementById('save-settings').disabled = busy;
  document.getElementById('layout-settings').disabled = busy;
  el.clear.disabled = busy || selectedItems().length === 0;
  el.dropzone.classList.toggle('disabled', busy);
  document.body.classList.toggle('busy', busy);
}

function startRun() {
  if (running || !active?.ready) return;
  const items = selectedItems();
  clearResults();
  if (!items.length) {
    showMessage('warn', t('noFiles'));
    el.files.focus();
    return;
  }
  let secret = el.secret.value;
  if (secret === '') {
    secret = randomSecret();
    showMessage('warn', t('randomSecret'));
  }
  const exportDate = localDate();
  const format = document.querySelector('input[name="format"]:checked')?.value || 'dicom';
  const scanTotal = items.reduce((n, { file }) => n + file.size, 0);
  const now = performance.now();
  running = { exportDate, started: now, scanTotal, exportTotal: null, phase: null, phaseStarted: now, last: null };
  el.progress.max = Math.max(1, 2 * scanTotal);
  el.progress.value = 0;
  setStatus(t('starting'));
  announce(t('starting'));
  active.worker.postMessage({
    type: 'run',
    files: items.map((i) => i.file),
    names: items.map((i) => i.name),
    secret,
    exportDate,
    settings: deidSettings(format),
  });
  updateControls();
  el.cancel.focus();
}

let renderQueued = false;
function onProgress(msg) {
  const r = running;
  if (msg.phase !== r.phase) {
    r.phase = msg.phase;
    el.progress.dataset.phase = msg.phase;
    r.phaseStarted = performance.now();
    announce(t(msg.phase === 'scan' ? 'phaseScan' : 'phaseExport'));
  }
  if (msg.phase === 'export') r.exportTotal = msg.bytesTotal;
  r.last = msg;
  if (!renderQueued) {
    renderQueued = true;
    requestAnimationFrame(renderProgress);
  }
}

function renderProgress() {
  renderQueued = false;
  const r = running;
  if (!r || !r.last) return;
  const m = r.last;
  const exportTotal = r.exportTotal ?? r.scanTotal; // before the plan: assume everything is exported
  const total = r.scanTotal + exportTotal;
  const done = m.phase === 'scan' ? m.bytesDone : r.scanTotal + m.bytesDone;
  el.progress.max = Math.max(1, total);
  el.progress.value = Math.min(done, total);
  const elapsed = (performance.now() - r.phaseStarted) / 1000;
  const rate = elapsed > 0 ? m.bytesDone / elapsed : 0;
  const left = elapsed >= 1 && rate > 0
    ? t('timeLeft', { time: fmtDuration((total - done) / rate) })
    : t('estimating');
  setStatus(t('progressLine', {
    phase: t(m.phase === 'scan' ? 'phaseScan' : 'phaseExport'),
    filesDone: int.format(m.filesDone),
    files: tp('files', m.filesTotal),
    mbDone: fmtMB(m.bytesDone),
    mbTotal: fmtMB(m.bytesTotal),
    rate: fmtMB(rate),
    left,
  }));
}

function onDone({ zip, size, saved, scratch, report, mapping, wasmMemory, timing }) {
  const shown = performance.now();
  const r = running;
  running = null;
  clearReview();
  // For tests and support: the worker's peak wasm memory, where its time went (ms), and this
  // page's JS heap (Chromium).
  el.report.dataset.wasmMemory = wasmMemory ?? '';
  el.report.dataset.timing = JSON.stringify(timing ?? {});
  el.report.dataset.jsHeap = performance.memory?.usedJSHeapSize ?? '';
  const seconds = (performance.now() - r.started) / 1000;
  el.progress.max = 1;
  el.progress.value = 1;
  const c = report.counts || {};
  const name = r.savedName || `capture-${r.exportDate}.zip`;
  setStatus(t(saved ? 'savedStatus' : 'doneStatus', {
    time: fmtDuration(seconds),
    exported: tp('files', c.exported || 0),
    skipped: int.format((c.skipped || 0) + (c.quarantined || 0)),
    inputs: tp('files', c.inputs || 0),
    name,
  }));
  if (!c.exported) showMessage('warn', t('nothingExported'));

  if (zip) {
    offered = scratch || null;
    urls.zip = URL.createObjectURL(zip);
    el.download.href = urls.zip;
    el.download.download = name;
    el.download.textContent = t('download', { name, size: fmtSize(size ?? zip.size) });
    el.download.hidden = false;
  }

  const json = new Blob([JSON.stringify(report, null, 2) + '\n'], { type: 'application/json' });
  urls.report = URL.createObjectURL(json);
  el.downloadReport.href = urls.report;
  el.downloadReport.download = `capture-${r.exportDate}-report.json`;
  el.downloadReport.textContent = t('downloadReport');
  el.downloadReport.hidden = false;
  if (mapping) {
    urls.mapping = URL.createObjectURL(mapping);
    el.downloadMapping.href = urls.mapping;
    el.downloadMapping.download = `capture-${r.exportDate}-mapping.zip`;
    el.downloadMapping.textContent = t('downloadMapping');
    el.downloadMapping.hidden = false;
  }

  renderReport(report);
  updateControls();
  announce(t('doneAnnounce'));
  (zip ? el.download : el.downloadReport).focus();
  // ms this page spent showing the result (make bench prints it with the worker's timing).
  el.report.dataset.timing = JSON.stringify({ ...timing, page: performance.now() - shown });
}

function onRunError(msg) {
  removeScratch(running?.scratch);
  running = null;
  showMessage('error', msg.file
    ? t(msg.code === 'engine-stopped' ? 'engineStopped' : 'fileError', { file: msg.file, message: msg.message })
    : t('generalError', { message: msg.message }));
  setStatus(t('failedStatus'));
  announce(t('failedStatus'));
  el.progress.value = 0;
  // The wasm may be in a bad state after an error: continue with a fresh worker.
  replaceActive();
}

function cancelRun() {
  if (!running) return;
  const scratch = running.scratch;
  running = null;
  replaceActive();
  removeScratch(scratch);
  clearResults();
  setStatus(t('cancelled'));
  announce(t('cancelled'));
  updateControls();
  el.run.focus();
}

// ---------------------------------------------------------------------------------------------
// Review: after the scan and the plan, before anything is written.
let reviewData = null; // the worker's review (holds original IDs: screen and re-identification table only)

function clearReview() {
  reviewData = null;
  reviewTables = [];
  el.review.hidden = true;
  el.reviewCounts.textContent = '';
  for (const k of ['patients', 'visits', 'series', 'images', 'tables', 'skipped', 'quarantined']) {
    delete el.reviewCounts.dataset[k];
  }
  el.reviewPatients.replaceChildren();
  el.reviewTables.replaceChildren();
  el.reviewExcluded.replaceChildren();
}

function table(headers, rows) {
  const wrap = document.createElement('div');
  wrap.className = 'table-wrap';
  const tableEl = document.createElement('table');
  const thead = tableEl.createTHead().insertRow();
  for (const [text, cls] of headers) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = text;
    if (cls) th.className = cls;
    thead.append(th);
  }
  const tbody = tableEl.createTBody();
  for (const row of rows) {
    const tr = tbody.insertRow();
    for (const [text, cls] of row) cell(tr, text, cls);
  }
  wrap.append(tableEl);
  return wrap;
}

function onReview({ review, tables, exportBytes }) {
  const r = running;
  r.phase = 'review';
  r.exportTotal = exportBytes;
  reviewData = review;
  const c = review.counts || {};
  Object.assign(el.reviewCounts.dataset, {
    patients: c.patients, visits: c.visits, series: c.series, images: c.images,
    tables: c.tables, skipped: c.skipped, quarantined: c.quarantined,
  });
  el.reviewCounts.textContent = t('reviewCounts', {
    patients: tp('patients', c.patients || 0),
    visits: tp('visits', c.visits || 0),
    series: tp('series', c.series || 0),
    images: tp('images', c.images || 0),
    tables: tp('tables', c.tables || 0),
    skipped: int.format(c.skipped || 0),
    quarantined: int.format(c.quarantined || 0),
  });
  const descKey = { kept: 'descKept', cleaned: 'descCleaned', removed: 'descRemoved' }[review.descriptionAction]
    || 'descReplaced';
  el.reviewDescription.textContent = t(descKey);
  el.reviewDescription.className = review.descriptionAction === 'kept' ? 'msg msg-warn' : 'msg';

  const frag = document.createDocumentFragment();
  for (const p of review.patients || []) {
    const block = document.createElement('div');
    block.className = 'review-patient';
    const h = document.createElement('h4');
    const id = document.createElement('span');
    id.className = 'id';
    id.textContent = t('reviewPatient', { id: p.patientResearchId });
    const orig = document.createElement('span');
    orig.className = 'original';
    orig.textContent = ` (${t('reviewOriginal', { id: p.originalPatientId || '—' })})`;
    h.append(id, orig);
    block.append(h);
    for (const v of p.visits || []) {
      const vh = document.createElement('p');
      vh.className = 'review-visit';
      vh.textContent = `${t('reviewVisit', { id: v.scanResearchId })}`
        + (v.studyDate ? ` · ${t('reviewStudyDate', { date: v.studyDate })}` : '')
        + ` · ${tp('images', v.images || 0)}`;
      block.append(vh);
      block.append(table(
        [[t('colSeriesNo'), 'num'], [t('colModality')], [t('colDescription')], [t('colImages'), 'num']],
        (v.series || []).map((se) => [
          [se.seriesNumber == null ? '' : String(se.seriesNumber), 'num'],
          [se.modality || ''],
          [se.description || t('noDescription'), 'description'],
          [int.format(se.images || 0), 'num'],
        ]),
      ));
    }
    frag.append(block);
  }
  el.reviewPatients.replaceChildren(frag);

  reviewTables = (tables || []).map((tb) => ({ input: tb.input, profile: tb.profile, edited: false }));
  const tfrag = document.createDocumentFragment();
  (tables || []).forEach((tb, ti) => tfrag.append(tableRulesBlock(tb, reviewTables[ti])));
  el.reviewTables.replaceChildren(tfrag);
  el.reviewTablesBlock.hidden = !(tables || []).length;

  const xfrag = document.createDocumentFragment();
  for (const x of review.excluded || []) {
    const tr = document.createElement('tr');
    tr.className = `outcome-${String(x.outcome).replace(/[^a-z]/g, '')}`;
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = x.name;
    tr.append(th);
    cell(tr, outcomeWord(x.outcome), 'outcome');
    cell(tr, reasonText(x));
    xfrag.append(tr);
  }
  el.reviewExcluded.replaceChildren(xfrag);
  el.reviewExcludedBlock.hidden = !(review.excluded || []).length;

  el.progress.max = Math.max(1, r.scanTotal + exportBytes);
  el.progress.value = r.scanTotal;
  setStatus(t('phaseReview'));
  announce(t('phaseReview'));
  el.review.hidden = false;
  updateControls();
  el.review.focus();
}

// The column rules of the core (crate/src/table/mod.rs, Rule), as the review offers them.
const RULES = ['keep', 'drop', 'patient-id', 'visit', 'date', 'birth-date'];
const RULE_KEYS = { keep: 'ruleKeep', drop: 'ruleDrop', 'patient-id': 'rulePatientId', visit: 'ruleVisit',
  date: 'ruleDate', 'birth-date': 'ruleBirthDate' };
let reviewTables = []; // per table of the review: {input, profile, edited}

// The patient ID normalisations of the core (crate/src/patient_id.rs, Normalise).
const NORMALISE_KEYS = { 'leading-zeros': 'normLeadingZeros', case: 'normCase', separators: 'normSeparators' };

/** A table's near misses (counts and options only, never an ID), as warnings. */
function nearMissLines(tb) {
  return (tb.nearMisses || []).map((m) => {
    const p = document.createElement('p');
    p.className = 'msg msg-warn near-miss';
    p.dataset.options = (m.options || []).join(',');
    p.dataset.patientIds = m.patientIds || 0;
    p.textContent = t('nearMiss', {
      ids: tp('patientIds', m.patientIds || 0),
      options: (m.options || []).map((o) => t(NORMALISE_KEYS[o] || o)).join(' + '),
    });
    return p;
  });
}

/** Row ranges [[first, last], …] as `1, 4-5`, at most 20 ranges. */
function rowList(rows) {
  const ranges = (rows?.ranges || []).slice(0, 20).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
  return ranges.join(', ') + ((rows?.ranges || []).length > 20 ? ', …' : '');
}

/** One table of the review: its columns, each with a rule the user may change. */
function tableRulesBlock(tb, state) {
  const block = document.createElement('div');
  block.className = 'review-table';
  const h = document.createElement('h4');
  h.textContent = t('reviewTable', { name: tb.name, rows: tp('rows', tb.rows || 0) });
  block.append(h, ...nearMissLines(tb));
  const wrap = table([[t('colColumn')], [t('colRule')], [t('colExamples')], [t('colReason')]], []);
  const tbody = wrap.querySelector('tbody');
  (tb.columns || []).forEach((col, ci) => {
    const tr = tbody.insertRow();
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = col.name;
    tr.append(th);
    const td = tr.insertCell();
    const select = document.createElement('select');
    select.id = `rule-${tb.input}-${ci}`;
    select.className = 'rule';
    select.dataset.table = tb.table;
    select.dataset.column = col.name;
    select.setAttribute('aria-label', t('ruleFor', { column: col.name, table: tb.name }));
    for (const rule of RULES) {
      const o = document.createElement('option');
      o.value = rule;
      o.textContent = t(RULE_KEYS[rule]);
      select.append(o);
    }
    select.value = typeof col.rule === 'string' ? col.rule : 'drop';
    // The profile entry of this column, created on the first change.
    const entry = () => {
      let e = state.profile.columns.find((c) => c.name === col.name);
      if (!e) {
        e = { name: col.name, rule: select.value, quasiIdentifier: !!col.quasiIdentifier };
        state.profile.columns.push(e);
      }
      return e;
    };
    select.addEventListener('change', () => {
      entry().rule = select.value;
      state.edited = true;
    });
    // Marked columns (sex, birth year, postcode...) are counted in the k-anonymity hint.
    const quasi = document.createElement('input');
    quasi.type = 'checkbox';
    quasi.id = `quasi-${tb.input}-${ci}`;
    quasi.className = 'quasi';
    quasi.dataset.column = col.name;
    quasi.checked = !!col.quasiIdentifier;
    quasi.title = t('quasiFor', { column: col.name, table: tb.name });
    quasi.addEventListener('change', () => {
      entry().quasiIdentifier = quasi.checked;
      state.edited = true;
    });
    const quasiLabel = document.createElement('label');
    quasiLabel.htmlFor = quasi.id;
    quasiLabel.className = 'quasi-label';
    quasiLabel.textContent = t('quasiLabel');
    td.append(select, ' ', quasi, quasiLabel);
    cell(tr, (col.samples || []).slice(0, 3).join(' · '), 'samples');
    cell(tr, col.reason || '');
  });
  block.append(wrap);
  return block;
}

/** 'disk' (File System Access API) or 'link' (Blob + #download). */
function saveMode() {
  const forced = new URLSearchParams(location.search).get('save');
  if (forced === 'link') return 'link';
  if (typeof window.showSaveFilePicker !== 'function') return 'link';
  if (el.saveMode.value === 'link') return 'link';
  // A save dialog cannot be answered by an automated browser: keep the download link there.
  if (navigator.webdriver && forced !== 'disk') return 'link';
  return 'disk';
}

async function confirmRun() {
  const r = running;
  if (!r || r.phase !== 'review') return;
  let handle = null;
  if (saveMode() === 'disk') {
    const suggestedName = `capture-${r.exportDate}.zip`;
    try {
      // Called first thing in the click handler: the picker needs the user's gesture.
      handle = await window.showSaveFilePicker({
        suggestedName,
        types: [{ description: 'Zip', accept: { 'application/zip': ['.zip'] } }],
      });
      r.savedName = handle.name;
    } catch (err) {
      if (err?.name === 'AbortError') return; // the user closed the dialog: stay on the review
      showMessage('warn', t('saveFailed', { message: err?.message || String(err) }));
      handle = null;
    }
    if (running !== r || r.phase !== 'review') return;
  }
  r.phase = 'export';
  r.phaseStarted = performance.now();
  el.review.hidden = true;
  const profiles = reviewTables.filter((tb) => tb.edited).map(({ input, profile }) => ({ input, profile }));
  // Without a file chosen, the worker writes the zip to this private file (when it can).
  const tag = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
  r.scratch = handle ? null : `export-${tag}.zip`;
  active.worker.postMessage({ type: 'confirm', handle, profiles, scratch: r.scratch, mapping: el.mappingKeep.checked });
  setStatus(t('phaseExport'));
  announce(t('phaseExport'));
  updateControls();
  el.cancel.focus();
}

/** Original patient ID ↔ research IDs, as CSV, downloaded on the user's explicit request. */
function downloadReidTable() {
  if (!reviewData) return;
  const q = (v) => `"${String(v ?? '').replace(/"/g, '""')}"`;
  const lines = ['original_patient_id,patient_research_id,scan_research_id,study_date'];
  for (const p of reviewData.patients || []) {
    for (const v of p.visits || []) {
      lines.push([p.originalPatientId, p.patientResearchId, v.scanResearchId, v.studyDate].map(q).join(','));
    }
  }
  const blob = new Blob([lines.join('\r\n') + '\r\n'], { type: 'text/csv' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `reidentification-${running?.exportDate || localDate()}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// ---------------------------------------------------------------------------------------------
// Report.
function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function outcomeText(f) {
  if (f.outcome === 'exported' && f.path) return t('outcomeExported', { path: f.path });
  const reason = reasonText(f);
  return reason ? t('outcomeOther', { outcome: outcomeWord(f.outcome), reason }) : outcomeWord(f.outcome);
}

/** 'skipped' / 'quarantined' in the page's language. */
function outcomeWord(outcome) {
  const key = { skipped: 'outcomeSkipped', quarantined: 'outcomeQuarantined' }[outcome];
  return key ? t(key) : String(outcome);
}

/** Why a file is left out: in English the core's own words (as the CLI prints them); in other
 *  languages the text of its code, then its untranslated detail (a parser's message, a name). */
function reasonText(x) {
  const key = x.code && 'reason' + x.code.replace(/(^|-)(\w)/g, (m, d, c) => c.toUpperCase());
  if (LANG === 'en' || !key || !(key in S)) return x.reason || '';
  return x.detail ? `${t(key)} (${x.detail})` : t(key);
}

/** The rows of one exported table that link to no image, and those without an ID (by number). */
function unlinkedLines(tb, linkage) {
  const rows = (linkage?.tables || []).find((x) => x.path === tb.path);
  if (!tb.path || !rows) return [];
  const lines = [['unlinkedRows', rows.unlinkedRows], ['rowsWithoutId', rows.rowsWithoutPatientId]];
  return lines.filter(([, r]) => r && r.count).map(([key, r]) => {
    const p = document.createElement('p');
    p.className = `msg ${key === 'unlinkedRows' ? 'unlinked-rows' : 'rows-without-id'}`;
    p.dataset.count = r.count;
    p.textContent = t(key, { table: tb.name, rows: tp('rows', r.count), list: rowList(r) });
    return p;
  });
}

/** The EHR tables after the export: how they link to the images, and each k-anonymity warning. */
function renderTablesReport(report) {
  const tables = report.tables || [];
  const l = report.linkage;
  const linkage = $('report-linkage');
  $('report-tables-block').hidden = !tables.length && !l;
  linkage.textContent = '';
  if (l) {
    const n = (side) => side?.count || 0;
    Object.assign(linkage.dataset, {
      both: n(l.both), tablesOnly: n(l.tablesOnly), imagesOnly: n(l.imagesOnly),
      visitValues: l.visitValues || 0, visitValuesMatched: l.visitValuesMatched || 0,
    });
    linkage.textContent = t('linkage', {
      both: tp('patients', n(l.both)), tablesOnly: tp('patients', n(l.tablesOnly)),
      imagesOnly: tp('patients', n(l.imagesOnly)),
    }) + (l.visitValues ? ' ' + t('linkageVisits', {
      matched: int.format(l.visitValuesMatched || 0), values: int.format(l.visitValues),
    }) : '');
  }
  const items = document.createDocumentFragment();
  for (const tb of tables) {
    const li = document.createElement('li');
    li.textContent = t('reportTable', { name: tb.name, rows: tp('rows', tb.rows || 0), path: tb.path || t('notExported') });
    const k = tb.kAnonymity;
    if (k && k.warning) {
      const w = document.createElement('p');
      w.className = 'msg msg-warn k-warning';
      w.textContent = t('kWarning', { k: k.k, min: 5, columns: (k.columns || []).join(', ') });
      li.append(w);
    }
    li.append(...nearMissLines(tb), ...unlinkedLines(tb, l));
    items.append(li);
  }
  $('report-tables').replaceChildren(items);
}

let lastReport = null; // shown again in the other language when the language changes

function renderReport(report) {
  lastReport = report;
  const c = report.counts || {};
  const visits = report.visits || [];
  el.reportCounts.textContent = t('reportCounts', {
    inputs: tp('files', c.inputs || 0),
    exported: tp('files', c.exported || 0),
    visits: tp('visits', visits.length),
    skipped: int.format(c.skipped || 0),
    quarantined: int.format(c.quarantined || 0),
  });
  const audit = report.audit || { files: 0, heldBack: 0 };
  el.reportAudit.textContent = t(audit.heldBack ? 'reportAuditHeld' : 'reportAuditClean', {
    files: tp('files', audit.files || 0),
    held: int.format(audit.heldBack || 0),
  });

  const vrows = document.createDocumentFragment();
  for (const v of visits) {
    const tr = document.createElement('tr');
    cell(tr, v.patientResearchId ?? '', 'id');
    cell(tr, v.scanResearchId ?? '', 'id');
    cell(tr, int.format(v.series ?? 0), 'num');
    cell(tr, int.format(v.files ?? 0), 'num');
    vrows.append(tr);
  }
  if (!visits.length) {
    const tr = document.createElement('tr');
    cell(tr, t('noVisits')).colSpan = 4;
    vrows.append(tr);
  }
  el.visits.replaceChildren(vrows);

  el.outcomes.replaceChildren();
  appendOutcomes(outcomeRows = { files: report.files || [] }, 0);
  renderTablesReport(report);
  el.report.hidden = false;
}

// The table of every input's outcome is filled OUTCOME_ROWS rows at a time, the next ones in a
// later task: the result and the download link show at once (3,000 rows took the page 0.3 s,
// make bench mr4d). `outcomeRows` is the filling under way; another one (or none) stops it.
const OUTCOME_ROWS = 500;
let outcomeRows = null;

function appendOutcomes(rows, from) {
  if (outcomeRows !== rows) return;
  const { files } = rows;
  const frows = document.createDocumentFragment();
  for (const f of files.slice(from, from + OUTCOME_ROWS)) {
    const tr = document.createElement('tr');
    tr.className = `outcome-${String(f.outcome).replace(/[^a-z]/g, '')}`;
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = f.name;
    tr.append(th);
    cell(tr, typeof f.size === 'number' ? fmtSize(f.size) : '', 'num');
    cell(tr, outcomeText(f), 'outcome');
    frows.append(tr);
  }
  el.outcomes.append(frows);
  if (from + OUTCOME_ROWS < files.length) setTimeout(() => appendOutcomes(rows, from + OUTCOME_ROWS), 0);
}

// ---------------------------------------------------------------------------------------------
// The site secret: passphrase, key file, new key file, optional memory in this browser.
const STORE_SECRET = 'capture.secret';
const STORE_SETTINGS = 'capture.settings';

function storage() {
  try { return window.localStorage; } catch { return null; }
}

/** 256 random bits as RFC 4648 base32 (52 characters, no padding). */
function newKey() {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let bits = 0, value = 0, out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) { out += alphabet[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

function downloadText(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function setSecret(value) {
  el.secret.value = value;
  rememberSecret();
}

function rememberSecret() {
  const store = storage();
  if (!store) return;
  if ($('secret-remember').checked && el.secret.value) store.setItem(STORE_SECRET, el.secret.value);
  else store.removeItem(STORE_SECRET);
}

function generateKeyFile() {
  const key = newKey();
  const name = `site-key-${localDate()}.key`;
  downloadText(name, key + '\n', 'text/plain');
  setSecret(key);
  showMessage('warn', t('secretGenerated', { name }));
}

async function loadKeyFile() {
  const file = $('secret-file').files[0];
  if (!file) return;
  try {
    // As the CLI's --secret-file: the file's text, trailing line breaks ignored.
    setSecret((await file.text()).replace(/[\r\n]+$/, ''));
    showMessage('info', t('secretLoaded', { name: file.name }));
  } catch (err) {
    showMessage('error', t('secretFileFailed', { message: err?.message || String(err) }));
  }
  $('secret-file').value = '';
}

// ---------------------------------------------------------------------------------------------
// Settings: remembered in this browser, saved to and loaded from one JSON file.
function settingControls() {
  return [...document.querySelectorAll('#deid-settings select, #deid-settings input, #layout-settings input, #save-mode, input[name="format"]')];
}

function currentSettings() {
  const out = { version: 1 };
  for (const c of settingControls()) {
    if (c.type === 'radio') { if (c.checked) out[c.name] = c.value; }
    else if (c.type === 'checkbox') out[c.id] = c.checked;
    else out[c.id] = c.value;
  }
  return out;
}

function applySettings(settings) {
  for (const c of settingControls()) {
    if (c.type === 'radio') {
      if (c.name in settings) c.checked = settings[c.name] === c.value && !c.disabled;
    } else if (c.type === 'checkbox') {
      if (typeof settings[c.id] === 'boolean') c.checked = settings[c.id];
    } else if (typeof settings[c.id] === 'string' && [...(c.options || [])].some((o) => o.value === settings[c.id])) {
      c.value = settings[c.id];
    }
  }
  if (!document.querySelector('input[name="format"]:checked')) $('format-dicom').checked = true;
}

function storeSettings() {
  storage()?.setItem(STORE_SETTINGS, JSON.stringify(currentSettings()));
}

function exportSettings() {
  downloadText('capture-settings.json', JSON.stringify(currentSettings(), null, 2) + '\n', 'application/json');
}

async function importSettings() {
  const input = $('settings-import');
  const file = input.files[0];
  if (!file) return;
  try {
    const settings = JSON.parse(await file.text());
    if (!settings || typeof settings !== 'object') throw new Error('not a settings object');
    applySettings(settings);
    storeSettings();
    showMessage('info', t('settingsLoaded', { name: file.name }));
  } catch (err) {
    showMessage('error', t('settingsFailed', { message: err?.message || String(err) }));
  }
  input.value = '';
}

function restoreStored() {
  const store = storage();
  if (!store) return;
  try {
    const settings = JSON.parse(store.getItem(STORE_SETTINGS) || 'null');
    if (settings) applySettings(settings);
  } catch { /* ignore a damaged entry */ }
  const secret = store.getItem(STORE_SECRET);
  if (secret) {
    el.secret.value = secret;
    $('secret-remember').checked = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring.
function toggleSecret() {
  const show = el.secret.type === 'password';
  el.secret.type = show ? 'text' : 'password';
  el.secretToggle.setAttribute('aria-pressed', String(show));
}

function init() {
  applyStrings();
  setStatus(t('loading'));
  updateSelection();
  el.files.addEventListener('change', updateSelection);
  el.folder.addEventListener('change', updateSelection);
  el.clear.addEventListener('click', clearSelection);
  el.secretToggle.addEventListener('click', toggleSecret);
  el.run.addEventListener('click', startRun);
  el.cancel.addEventListener('click', cancelRun);
  el.confirm.addEventListener('click', confirmRun);
  el.reviewCancel.addEventListener('click', cancelRun);
  el.reid.addEventListener('click', downloadReidTable);
  $('lang').addEventListener('change', changeLanguage);
  $('secret-generate').addEventListener('click', generateKeyFile);
  $('secret-file').addEventListener('change', loadKeyFile);
  $('secret-remember').addEventListener('change', rememberSecret);
  el.secret.addEventListener('change', rememberSecret);
  for (const c of settingControls()) c.addEventListener('change', storeSettings);
  $('settings-export').addEventListener('click', exportSettings);
  $('settings-import').addEventListener('change', importSettings);
  restoreStored();
  setupDropzone();
  window.addEventListener('beforeunload', (ev) => {
    if (running) { ev.preventDefault(); ev.returnValue = t('leaveWarning'); }
  });
  active = spawnWorker();
  sweepScratch();
  if (active.error) showStartFailure(active.error);
  updateControls();
}

init();
